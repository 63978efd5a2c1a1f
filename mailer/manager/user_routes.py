"""Managers' users screen: every user with counts of their clients and mailings; block (after
a page that asks why) and unblock."""

from __future__ import annotations

from functools import partial

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel.speaklater import LazyString
from flask_login import current_user
from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import selectinload

from mailer.auth import staff
from mailer.extensions import db
from mailer.mailings import pagination
from mailer.manager import bp
from mailer.manager.forms import BlockForm
from mailer.models import Client, Mailing, User
from mailer.models.search import contains_as_typed
from mailer.permissions import manager_permission, role_required

PER_PAGE = 25
# The list's page and search: blocking or unblocking a user comes back to them.
LIST_ARGS = ("page", "q")


def _users_query(search: str):
    query = select(User).options(selectinload(User.blocked_by)).order_by(User.email)
    if search:
        query = query.where(
            or_(contains_as_typed(User.email, search), contains_as_typed(User.full_name, search))
        )
    return query


def _counts(model, user_ids: list[int]) -> dict[int, int]:
    """Rows of `model` per owner for the page's users, in one query (no N+1).

    Each is counted up to pagination.COUNT_LIMIT and shown as "10000+" beyond:
    counting a user's million clients would take longer than the whole page may.
    """
    if not user_ids:
        return {}
    # One capped count per user, each with its id written in, so that PostgreSQL
    # plans it for that user (an index probe for the one who has no clients).
    per_user = [
        select(
            literal(user_id),
            select(func.count())
            .select_from(
                select(model.id)
                .where(model.owner_id == user_id)
                .limit(pagination.COUNT_LIMIT + 1)
                .subquery()
            )
            .scalar_subquery(),
        )
        for user_id in user_ids
    ]
    rows = db.session.execute(union_all(*per_user))
    return {owner_id: count for owner_id, count in rows}


@bp.route("/users")
@role_required(manager_permission)
def users():
    search = request.args.get("q", "").strip()
    page = pagination.page_or_404(
        db.paginate(
            _users_query(search),
            page=pagination.page_number(),
            per_page=PER_PAGE,
            error_out=False,
        )
    )
    ids = [user.id for user in page.items]
    # The users whose Block or Unblock button this manager gets (not themselves, the
    # superuser, or another manager).
    changeable = {user.id for user in page.items if _refusal(user) is None}
    return render_template(
        "manager/users.html",
        page=page,
        search=search,
        client_counts=_counts(Client, ids),
        mailing_counts=_counts(Mailing, ids),
        changeable=changeable,
        count_limit=pagination.COUNT_LIMIT,
        back=pagination.list_args(*LIST_ARGS),
    )


@bp.route("/users/<int:user_id>/block", methods=["GET", "POST"])
@role_required(manager_permission)
def block_user(user_id: int):
    """A page that asks why (its own confirmation), then the block."""
    user = db.get_or_404(User, user_id)
    if refusal := staff.block_refusal(user=user, by=current_user):
        flash(str(refusal), "danger")
        return redirect(_back())
    if user.is_blocked:  # a page left open, or another manager was quicker
        flash(
            _(
                "%(email)s is blocked already; the list says by whom and why."
                " Unblock them first to give another reason.",
                email=user.email,
            ),
            "info",
        )
        return redirect(_back())
    form = BlockForm()
    if form.validate_on_submit():
        block = partial(staff.block_user, reason=form.reason.data or "")
        if _changed(block, user):
            flash(_("%(email)s is blocked.", email=user.email), "success")
        return redirect(_back())
    return render_template(
        "manager/block.html", user=user, form=form, back=pagination.list_args(*LIST_ARGS)
    )


@bp.route("/users/<int:user_id>/unblock", methods=["POST"])
@role_required(manager_permission)
def unblock_user(user_id: int):
    user = db.get_or_404(User, user_id)
    if _changed(staff.unblock_user, user):
        flash(_("%(email)s is unblocked.", email=user.email), "success")
    return redirect(_back())


def _changed(change, user: User) -> bool:
    """Block or unblock `user` as the current manager; False, the reason flashed, if refused."""
    try:
        change(user=user, by=current_user)
    except staff.AccountError as error:
        flash(str(error), "danger")
        return False
    db.session.commit()
    return True


def _refusal(user: User) -> LazyString | None:
    """Why the current manager may not press the user's button (Unblock or Block), or None."""
    refusal = staff.unblock_refusal if user.is_blocked else staff.block_refusal
    return refusal(user=user, by=current_user)


def _back() -> str:
    """Back to the list page the button was on (the action URL carries its page and search)."""
    return url_for("manager.users", **pagination.list_args(*LIST_ARGS))
