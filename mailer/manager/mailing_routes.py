"""Managers' oversight of mailings: all users' mailings (each one's page, read-only;
disable/enable) and attempts (read-only).

Managers never edit or delete another user's mailing: those routes stay
owner-scoped in the mailings blueprint.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from mailer import headers
from mailer.extensions import db
from mailer.mailings import mailing_queries, message_services
from mailer.mailings import mailing_services as services
from mailer.mailings.attempt_routes import attempt_csv, attempt_log
from mailer.mailings.mailing_forms import ManagerMailingFilterForm
from mailer.mailings.pagination import page_number
from mailer.manager import bp
from mailer.models import Mailing, User
from mailer.models.search import contains_as_typed
from mailer.permissions import manager_permission, role_required


@bp.route("/mailings")
@role_required(manager_permission)
def mailings():
    form = ManagerMailingFilterForm(request.args)
    query = mailing_queries.mailings_query().join(Mailing.owner)
    if form.owner.data and form.owner.data.strip():
        query = query.filter(contains_as_typed(User.email, form.owner.data.strip()))
    query = mailing_queries.filtered(query, search=form.q.data or "", status=form.status.data)
    page = query.paginate(page=page_number(), per_page=mailing_queries.PER_PAGE)
    last_runs = mailing_queries.last_runs([mailing.id for mailing in page.items])
    return render_template("manager/mailings.html", form=form, page=page, last_runs=last_runs)


@bp.route("/mailings/<int:mailing_id>")
@role_required(manager_permission)
def mailing_detail(mailing_id: int):
    """One mailing, read-only: its schedule, its sends so far and its message as a (sample)
    client gets it, so that a manager sees what they disable. Its clients stay its owner's."""
    mailing = mailing_queries.mailings_query().filter(Mailing.id == mailing_id).first_or_404()
    page = render_template(
        "manager/mailing.html",
        mailing=mailing,
        client_total=mailing_queries.client_count(mailing),
        run=mailing_queries.last_runs([mailing.id]).get(mailing.id),
        **message_services.shown_to(mailing.message, message_services.sample_client()),
    )
    # Its message's remote images would tell the owner when a manager looked, and from where.
    return page, {"Content-Security-Policy": headers.policy(remote_content=False)}


@bp.route("/mailings/<int:mailing_id>/disable", methods=["POST"])
@role_required(manager_permission)
def mailing_disable(mailing_id: int):
    services.disable_mailing(mailing=db.get_or_404(Mailing, mailing_id), by=current_user)
    db.session.commit()
    flash(_("Mailing #%(id)d disabled.", id=mailing_id), "success")
    return _back_to_list()


@bp.route("/mailings/<int:mailing_id>/enable", methods=["POST"])
@role_required(manager_permission)
def mailing_enable(mailing_id: int):
    mailing = db.get_or_404(Mailing, mailing_id)
    try:
        services.enable_mailing(mailing=mailing, by=current_user)
    except services.MailingError as error:
        db.session.rollback()
        if mailing.owner_id == current_user.id:  # "only a manager" would puzzle a manager
            message = _(
                "Another manager disabled this mailing of yours: only another manager can"
                " enable it again."
            )
        else:
            message = str(error.message)  # its owner disabled it
        flash(message, "warning")
        return _back_to_list()
    db.session.commit()
    flash(_("Mailing #%(id)d enabled.", id=mailing_id), "success")
    return _back_to_list()


def _back_to_list():
    """Back to the filtered list the manager came from; only ever to this site."""
    referrer = request.referrer or ""
    if referrer.startswith(request.host_url):
        return redirect(referrer)
    return redirect(url_for("manager.mailings"))


@bp.route("/attempts")
@role_required(manager_permission)
def attempts():
    return attempt_log(
        owner=None, endpoint="manager.attempts", csv_endpoint="manager.attempts_export"
    )


@bp.route("/attempts.csv")
@role_required(manager_permission)
def attempts_export():
    return attempt_csv(owner=None)
