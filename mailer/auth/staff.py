"""What staff do to accounts: block and unblock (managers), give and take roles, and the
superuser itself (`flask user`, `flask csu`).

Services flush; the route or command that called them commits.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import select

from mailer.auth.services import AccountError, set_password
from mailer.delivery import stopping
from mailer.extensions import db
from mailer.mailings import mailing_services
from mailer.main.stats import counts_changed
from mailer.models import Mailing, User, UserRole, normalize_email, utcnow
from mailer.models.users import ROLES

SUPERUSER_EMAIL = "admin@mailing.com"


def block_refusal(*, user: User, by: User) -> LazyString | None:
    """Why `by` may not block `user`, or None when they may."""
    if user.id == by.id:
        return _l("You cannot block yourself.")
    if user.is_superuser:
        return _l("The superuser cannot be blocked.")
    return unblock_refusal(user=user, by=by)


def unblock_refusal(*, user: User, by: User) -> LazyString | None:
    """Why `by` may not unblock `user`, or None when they may.

    Managers cannot block or unblock each other: one manager could otherwise lock all
    the others out. The superuser decides, by taking the manager role away first (or
    by blocking through the manager screens with the role of their own)."""
    if user.is_manager and not by.is_superuser:
        return _l(
            "%(email)s is a manager: only the superuser can block or unblock them,"
            " or take the manager role away first (admin panel, Roles).",
            email=user.email,
        )
    return None


def block_user(*, user: User, by: User, reason: str = "") -> User:
    """Block `user`: their logins end at their next request and their mailings stop.
    `reason` (at most User.BLOCK_REASON_MAX characters) is told to them."""
    if refusal := block_refusal(user=user, by=by):
        raise AccountError(refusal)
    if not user.is_blocked:
        user.is_blocked = True
        user.blocked_at = utcnow()
        user.blocked_by = by
        user.block_reason = reason.strip()[: User.BLOCK_REASON_MAX]
        db.session.flush()
        stopping.stop_unfinished_runs(select(Mailing.id).where(Mailing.owner_id == user.id))
        counts_changed(user.id)  # their mailings are active no more
    return user


def unblock_user(*, user: User, by: User) -> User:
    if refusal := unblock_refusal(user=user, by=by):
        raise AccountError(refusal)
    was_blocked = user.is_blocked
    user.is_blocked = False
    user.blocked_at = None
    user.blocked_by = None
    user.block_reason = ""
    db.session.flush()
    if was_blocked:
        mailing_services.resume_after_block(user)
    counts_changed(user.id)
    return user


def blocked_notice(user: User) -> str:
    """What a blocked user is told when they log in, or when their next request ends a login."""
    if user.block_reason:
        return _(
            "Your account has been blocked. The reason given: “%(reason)s”. Contact a manager.",
            reason=user.block_reason,
        )
    return _("Your account has been blocked. Contact a manager.")


def grant_role(*, user: User, role: str) -> bool:
    """Give a role; False when the user already had it."""
    _check_role(role)
    if user.has_role(role):
        return False
    user.roles.append(UserRole(name=role))
    db.session.flush()
    return True


def revoke_role(*, user: User, role: str) -> bool:
    """Take a role away; False when the user did not have it."""
    _check_role(role)
    kept = [r for r in user.roles if r.name != role]
    if len(kept) == len(user.roles):
        return False
    user.roles = kept
    db.session.flush()
    return True


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}")


def ensure_superuser(*, password: str, email: str = SUPERUSER_EMAIL) -> tuple[User, bool]:
    """Create the superuser, or reset its password; True when it was created."""
    user = User.by_email(email)
    created = user is None
    if created:
        user = User(email=normalize_email(email), full_name="Administrator", password_hash="")
        db.session.add(user)
        db.session.flush()
    set_password(user, password)  # for an existing superuser, it ends every login
    user.is_superuser = True
    user.is_blocked = False
    user.confirmed_at = user.confirmed_at or utcnow()
    db.session.flush()
    return user, created
