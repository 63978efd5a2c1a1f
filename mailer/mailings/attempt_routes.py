"""The owner's attempt log: filters, pagination, CSV export of what is filtered."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from mailer.i18n import select_timezone
from mailer.ids import an_id
from mailer.mailings import attempt_queries, bp, outbox
from mailer.mailings.csv_export import csv_response, stamped
from mailer.mailings.pagination import list_args, page_number
from mailer.mailings.periods import DateRangeForm
from mailer.models import Attempt, Mailing, Message, User

# The mailing filter lists the newest mailings; an older one is still
# reachable through its page's "Attempts" link (the id is kept).
MAILING_CHOICE_LIMIT = 500


class AttemptFilterForm(DateRangeForm):
    """Read from the query string: a GET form, so no CSRF token."""

    mailing = SelectField(_l("Mailing"), coerce=str, validate_choice=False)
    status = SelectField(
        _l("Result"),
        choices=[
            SelectChoice("", _l("Any")),
            SelectChoice("success", _l("Success")),
            SelectChoice("failure", _l("Failure")),
        ],
        validate_choice=False,
    )
    run = HiddenField()
    client = HiddenField()  # a client's page links to its emails
    owner = StringField(_l("Owner email"))  # the managers' log only

    def query(self) -> dict[str, str]:
        """The filters as given, for a link to the same attempts (the CSV export)."""
        return list_args(*self._fields)

    def filters(self) -> attempt_queries.AttemptFilters:
        date_from, date_to = self.valid_dates()  # a bad date is shown as an error, left out
        return attempt_queries.AttemptFilters(
            mailing_id=_filtering_id(self.mailing.data),
            run_id=_filtering_id(self.run.data),
            client_id=_filtering_id(self.client.data),
            status=self.status.data or "",
            date_from=date_from,
            date_to=date_to,
            owner_email=self.owner.data or "",
        )


NO_ROW = 0  # an id no row has: ids start at 1


def _filtering_id(value) -> int | None:
    """The id a filter names; None when none is given. One that is no id (a link cut
    short, a number past any id) filters by an id no row has, so nothing matches: left
    out, the filter would list, and export, every attempt."""
    if not value:
        return None
    try:
        return an_id(value)
    except ValueError:
        return NO_ROW


def filter_form(owner=None) -> AttemptFilterForm:
    form = AttemptFilterForm(request.args)
    choices = [SelectChoice("", _l("All mailings"))]
    if owner is not None:
        rows = (
            Mailing.owned_by(owner)
            .join(Mailing.message)
            .with_entities(Mailing.id, Mailing.name, Message.subject)
            .order_by(Mailing.id.desc())
            .limit(MAILING_CHOICE_LIMIT)
            .all()
        )
        # Each by its title (Mailing.title): its name, or its message's subject.
        choices += [
            SelectChoice(str(mailing_id), f"#{mailing_id} {name or subject}")
            for mailing_id, name, subject in rows
        ]
    form.mailing.choices = choices
    return form


def attempt_log(*, owner: User | None, endpoint: str, csv_endpoint: str) -> str:
    """The log page: one owner's attempts, or (owner None, the managers') everyone's."""
    form = filter_form(owner)
    filters = form.filters()
    page = attempt_queries.attempt_page(
        filters,
        tz=select_timezone(),
        owner=owner,
        page=page_number(),
    )
    return render_template(
        "mailings/attempts/list.html",
        form=form,
        page=page,
        endpoint=endpoint,
        csv_endpoint=csv_endpoint,
        run=attempt_queries.filtered_run(filters, owner=owner),
        client=attempt_queries.filtered_client(filters, owner=owner),
        show_owner=owner is None,
        # The owner's log links each email written to the outbox (the embedded default).
        outbox_file=outbox.file_name if owner is not None else None,
    )


def attempt_csv(*, owner: User | None) -> Response:
    """What the log shows under the same filters, as CSV."""
    rows = attempt_queries.csv_rows(filter_form(owner).filters(), tz=select_timezone(), owner=owner)
    who = "all" if owner is None else "mine"
    return csv_response(rows, stamped(f"attempts-{who}"))


@bp.route("/attempts/")
@login_required
def attempt_list():
    return attempt_log(
        owner=current_user._get_current_object(),
        endpoint="mailings.attempt_list",
        csv_endpoint="mailings.attempt_export",
    )


@bp.route("/attempts.csv")
@login_required
def attempt_export():
    return attempt_csv(owner=current_user._get_current_object())


@bp.route("/attempts/<int:attempt_id>/email")
@login_required
def attempt_email(attempt_id: int):
    """The email an attempt wrote to the outbox (the embedded default), as the client got it."""
    attempt = Attempt.owned_by(current_user).filter_by(id=attempt_id).first_or_404()
    email = outbox.read(attempt)
    if email is None:
        abort(404)
    return render_template("mailings/attempts/email.html", attempt=attempt, email=email)
