"""Who may do what: Flask-Principal needs built from Flask-Login's current user.

Ownership is not a permission here: it is a query scope (`Model.owned_by`),
so another user's object is simply not found. Roles gate whole screens.
"""

from __future__ import annotations

from functools import wraps

from flask import Flask, abort, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_principal import AnonymousIdentity, Identity, Permission, RoleNeed, identity_loaded

from mailer.extensions import db, login_manager, principal
from mailer.models import CONTENT_MANAGER, MANAGER, User

SUPERUSER = "superuser"

manager_permission = Permission(RoleNeed(MANAGER))
# The superuser may do everything a content manager does.
blog_permission = Permission(RoleNeed(CONTENT_MANAGER), RoleNeed(SUPERUSER))
superuser_permission = Permission(RoleNeed(SUPERUSER))


def role_required(permission: Permission):
    """Log in first (anonymous visitors are sent to the login page), then 403 without the role."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not permission.can():
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def init_app(app: Flask) -> None:
    # Not at the top: mailer.auth's routes import this module.
    from mailer.auth import sessions, staff

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to open this page.")
    login_manager.login_message_category = "info"
    # Flash plain text: the session would hand a lazy string back as Markup (unescaped).
    login_manager.localize_callback = str

    @login_manager.user_loader
    def load_user(session_key: str) -> User | None:
        return sessions.user_for(session_key)

    @principal.identity_loader
    def identity_from_login() -> Identity:
        if current_user.is_authenticated:
            return Identity(current_user.id)
        return AnonymousIdentity()

    @identity_loaded.connect_via(app)
    def add_role_needs(sender, identity: Identity) -> None:
        if not current_user.is_authenticated:
            return
        for name in current_user.role_names:
            identity.provides.add(RoleNeed(name))
        if current_user.is_superuser:
            identity.provides.add(RoleNeed(SUPERUSER))

    # Before every other hook, since they ask who is logged in (Flask-Principal's first).
    app.before_request_funcs.setdefault(None, []).insert(0, sessions.remembered_under_old_key)

    @app.before_request
    def log_out_blocked_user():
        if current_user.is_authenticated and current_user.is_blocked:
            notice = staff.blocked_notice(current_user)  # said once they are logged out
            sessions.log_out()
            db.session.commit()
            flash(notice, "danger")
            if request.blueprint != "auth":
                return redirect(url_for("auth.login"))
        return None
