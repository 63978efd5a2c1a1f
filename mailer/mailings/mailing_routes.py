"""The owner's mailing screens: list, create, edit, detail, copy, delete, disable, enable."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from mailer.deadlocks import commit_retrying_deadlocks
from mailer.delivery import dispatch, tallies
from mailer.delivery.schedule import next_send_times
from mailer.extensions import db
from mailer.i18n import ngettext, select_timezone, timezone_named
from mailer.mailings import bp, mailing_queries
from mailer.mailings import mailing_services as services
from mailer.mailings.mailing_forms import (
    FREQUENCY_CHOICES,
    ONCE_WINDOW,
    SCOPE_CHOICES,
    MailingFilterForm,
    MailingForm,
)
from mailer.mailings.pagination import page_number
from mailer.mailings.send_routes import mailing_progress
from mailer.models import Mailing, Message, utcnow
from mailer.models.mailings import NAME_MAX

FREQUENCY_LABELS = {choice.value: choice.label for choice in FREQUENCY_CHOICES}
# A send time this many dispatch ticks past, still unclaimed, is late: the page says so.
OVERDUE_TICKS = 3


@bp.app_template_global()
def frequency_label(frequency: str) -> str:
    return str(FREQUENCY_LABELS.get(frequency, frequency))


def _own_mailing(mailing_id: int) -> Mailing:
    return Mailing.owned_by(current_user).filter_by(id=mailing_id).first_or_404()


@bp.route("/mailings/")
@login_required
def mailing_list():
    form = MailingFilterForm(request.args)
    search = (form.q.data or "").strip()
    query = mailing_queries.filtered(
        mailing_queries.mailings_query(current_user), search=search, status=form.status.data
    )
    page = query.paginate(page=page_number(), per_page=mailing_queries.PER_PAGE)
    last_runs = mailing_queries.last_runs([mailing.id for mailing in page.items])
    return render_template(
        "mailings/mailings/list.html",
        form=form,
        filtering=bool(search or form.status.data),
        page=page,
        last_runs=last_runs,
    )


@bp.route("/mailings/new", methods=["GET", "POST"])
@login_required
def mailing_create():
    form = _prepared_form(MailingForm(), mailing=None)
    if _checked(form):
        try:
            mailing = services.create_mailing(owner=current_user, data=form.data_for_model())
        except services.MailingError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            db.session.commit()
            flash(_created_said(mailing), "success")
            return redirect(url_for("mailings.mailing_detail", mailing_id=mailing.id))
    return _render_form(form, mailing=None)


def _created_said(mailing: Mailing) -> str:
    """ "Mailing created.", and when it first sends if its start has passed: a weekly or
    monthly one then starts a week or a month later, which nobody should learn by surprise."""
    first = mailing.next_send_at
    if first is None or first <= mailing.start_at:
        return _("Mailing created.")
    return _(
        "Mailing created. Its start has passed, so it first sends at %(when)s.",
        when=format_datetime(first, "yyyy-MM-dd HH:mm"),
    )


@bp.route("/mailings/<int:mailing_id>/edit", methods=["GET", "POST"])
@login_required
def mailing_edit(mailing_id: int):
    mailing = _own_mailing(mailing_id)
    form = _prepared_form(MailingForm(obj=_form_values(mailing)), mailing=mailing)
    if _checked(form):
        try:
            services.update_mailing(mailing=mailing, data=form.data_for_model())
        except services.MailingError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            db.session.commit()
            flash(_("Mailing saved."), "success")
            return redirect(url_for("mailings.mailing_detail", mailing_id=mailing.id))
    return _render_form(form, mailing=mailing)


@bp.route("/mailings/<int:mailing_id>")
@login_required
def mailing_detail(mailing_id: int):
    mailing = (
        mailing_queries.mailings_query(current_user).filter(Mailing.id == mailing_id).first_or_404()
    )
    page = page_number()
    # The latest run's progress first, its row in the table after: the row is then at
    # least as far on as the progress, which stops polling once it reads "finished".
    progress = mailing_progress(mailing.id)
    client_total, receiving = mailing_queries.client_counts(mailing)
    runs, run_total = mailing_queries.run_summaries(mailing, page=page)
    if page > 1 and not runs:
        abort(404)  # past the last page of runs, as on every list
    upcoming = []
    if mailing.is_active and mailing.next_send_at is not None:
        upcoming = [mailing.next_send_at] + next_send_times(
            start_at=mailing.start_at,
            end_at=mailing.end_at,
            frequency=mailing.frequency,
            tz=mailing.timezone,
            after=mailing.next_send_at,
            count=4,
        )
    return render_template(
        "mailings/mailings/detail.html",
        mailing=mailing,
        upcoming=upcoming,
        sent_again_at=dispatch.sent_again_after_send_now(mailing),
        overdue_since=_overdue_since(mailing),
        progress=progress,
        runs=runs,
        run_total=run_total,
        run_page=page,
        run_pages=max(1, -(-run_total // mailing_queries.PER_PAGE)),
        client_total=client_total,
        receiving=receiving,
        delete_warning=_delete_warning(mailing, progress),
    )


def _delete_warning(mailing: Mailing, progress: dict | None) -> str:
    """What the confirmation of a deletion says is lost with the mailing."""
    said = [_("Delete this mailing with its runs and attempt log?")]
    if progress is not None and progress["finished_at"] is None and progress["pending"]:
        said.append(
            ngettext(
                "Its send under way stops: %(num)s email not sent yet will not go out.",
                "Its send under way stops: %(num)s emails not sent yet will not go out.",
                progress["pending"],
            )
        )
    if sent := tallies.sent_by_mailing(mailing.id):
        said.append(
            ngettext(
                "The %(num)s email it sent leaves the attempt log and every report.",
                "The %(num)s emails it sent leave the attempt log and every report.",
                sent,
            )
        )
    if mailing.is_active:
        said.append(_("To stop it and keep its history, disable it instead."))
    return " ".join(said)


def _overdue_since(mailing: Mailing) -> datetime | None:
    """The send time the dispatch has left unclaimed for OVERDUE_TICKS of its ticks: the
    scheduler, or every worker that runs its jobs, is stopped. None while all is on time."""
    due = mailing.next_send_at
    if not mailing.is_active or due is None or mailing.owner.is_blocked:
        return None
    ticks = timedelta(seconds=OVERDUE_TICKS * current_app.config["SCHEDULER_INTERVAL_SECONDS"])
    return due if due < utcnow() - ticks else None


@bp.route("/mailings/<int:mailing_id>/copy", methods=["POST"])
@login_required
def mailing_copy(mailing_id: int):
    """A copy, switched off, opened for editing: its owner checks the times and enables it."""
    mailing = _own_mailing(mailing_id)
    try:
        copy = services.copy_mailing(mailing=mailing, name=_copy_name(mailing.title))
    except services.MailingError as error:
        flash(str(error.message), "danger")
        return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))
    db.session.commit()
    flash(
        _(
            "A copy of “%(name)s”, with its clients. It sends nothing until you tick Active "
            "and save it: check its times first.",
            name=mailing.title,
        ),
        "success",
    )
    return redirect(url_for("mailings.mailing_edit", mailing_id=copy.id))


def _copy_name(title: str) -> str:
    """The copy's name: "<title> (copy)" in the viewer's language, the title shortened to
    fit NAME_MAX."""
    name = _("%(name)s (copy)", name=title)
    excess = len(name) - NAME_MAX
    if excess > 0:
        name = _("%(name)s (copy)", name=title[: len(title) - excess - 1] + "…")
    return name


@bp.route("/mailings/<int:mailing_id>/delete", methods=["POST"])
@login_required
def mailing_delete(mailing_id: int):
    mailing = _own_mailing(mailing_id)
    commit_retrying_deadlocks(
        lambda: services.delete_mailing(mailing=mailing), "a mailing's deletion"
    )
    flash(_("Mailing deleted."), "success")
    return redirect(url_for("mailings.mailing_list"))


@bp.route("/mailings/<int:mailing_id>/disable", methods=["POST"])
@login_required
def mailing_disable(mailing_id: int):
    services.disable_mailing(mailing=_own_mailing(mailing_id), by=current_user)
    db.session.commit()
    flash(_("Mailing disabled: it sends nothing more."), "success")
    return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))


@bp.route("/mailings/<int:mailing_id>/enable", methods=["POST"])
@login_required
def mailing_enable(mailing_id: int):
    try:
        services.enable_mailing(mailing=_own_mailing(mailing_id), by=current_user)
    except services.MailingError as error:
        db.session.rollback()
        flash(str(error.message), "danger")
    else:
        db.session.commit()
        flash(_("Mailing enabled."), "success")
    return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))


# -- form helpers -------------------------------------------------------------


class _FormValues:
    """A mailing as the form shows it: local times in the mailing's own zone."""

    def __init__(self, mailing: Mailing):
        self.name = mailing.name
        self.message_id = mailing.message_id
        self.start_at = services.utc_to_local(mailing.start_at, mailing.timezone)
        self.end_at = services.utc_to_local(mailing.end_at, mailing.timezone)
        if mailing.frequency == "once" and mailing.end_at - mailing.start_at == ONCE_WINDOW:
            self.end_at = None  # left empty: it follows the start when that is edited
        self.frequency = mailing.frequency
        self.timezone = mailing.timezone
        self.is_active = mailing.is_active
        self.takes_new_clients = mailing.takes_new_clients


def _form_values(mailing: Mailing) -> _FormValues:
    return _FormValues(mailing)


def _prepared_form(form: MailingForm, *, mailing: Mailing | None) -> MailingForm:
    messages = Message.owned_by(current_user).order_by(Message.subject).all()
    form.message_id.choices = [SelectChoice(message.id, message.subject) for message in messages]
    if mailing is not None:
        form.client_scope.choices = [
            SelectChoice("keep", _("Keep the current clients")),
            *SCOPE_CHOICES,
        ]
    if request.method == "GET":
        if mailing is None:
            form.timezone.data = select_timezone()
        form.client_scope.data = "keep" if mailing is not None else "chosen"
    return form


def _render_form(form: MailingForm, *, mailing: Mailing | None):
    clients, chosen, owner_total, mailing_total = mailing_queries.client_choices(
        current_user, mailing
    )
    others_kept = mailing_total - len(chosen)  # the mailing's clients with no box shown
    if request.method == "POST":
        chosen = set(form.client_ids.data or [])
    # "Now" in the zone the form's times are read in: the mailing's, or the viewer's.
    typed = timezone_named(form.timezone.data or "")
    zone = typed or (mailing.timezone if mailing is not None else select_timezone())
    return render_template(
        "mailings/mailings/form.html",
        form=form,
        mailing=mailing,
        clients=clients,
        chosen=chosen,
        owner_total=owner_total,
        mailing_total=mailing_total,
        others_kept=others_kept,
        limit=mailing_queries.CLIENT_CHECKBOX_LIMIT,
        now_local=services.utc_to_local(utcnow(), zone),
        now_zone=zone,
        sending=mailing is not None and dispatch.unfinished_run(mailing.id) is not None,
    )


def _checked(form: MailingForm) -> bool:
    """Whether a form was sent and passes its own checks. One that does not is also
    checked for its choice of clients, so that one submit shows every field to mend;
    one that does has its clients checked by the service that saves it."""
    if not form.is_submitted():
        return False
    if form.validate():
        return True
    try:
        services.check_clients(current_user, form.client_selection())
    except services.MailingError as error:
        _field_error(form, error)
    return False


def _field_error(form: MailingForm, error: services.MailingError) -> None:
    field = getattr(form, error.field, None)
    if field is None:
        abort(400)
    field.errors = [*field.errors, error.message]
