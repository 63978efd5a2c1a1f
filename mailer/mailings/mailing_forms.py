"""The mailing form: what the owner types, turned into `MailingData` for the services."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional, ValidationError

from mailer.forms import at_most
from mailer.i18n import is_known_timezone, timezone_named
from mailer.ids import an_id
from mailer.mailings.mailing_services import (
    ClientSelection,
    MailingData,
    exists_in_zone,
    local_to_utc,
)
from mailer.models.mailings import NAME_MAX

FREQUENCY_CHOICES = [
    SelectChoice("once", _l("Once")),
    SelectChoice("daily", _l("Daily")),
    SelectChoice("weekly", _l("Weekly")),
    SelectChoice("monthly", _l("Monthly")),
]
SCOPE_CHOICES = [
    SelectChoice("chosen", _l("The clients ticked below")),
    SelectChoice("all", _l("All my clients")),
    SelectChoice("search", _l("All my clients matching the search")),
]
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
# A "once" mailing left without an end may go out this long after its start (after downtime).
ONCE_WINDOW = timedelta(days=1)
YEARS = range(2000, 3000)  # of a start or an end


class MailingForm(FlaskForm):
    name = StringField(
        _l("Mailing name"),
        validators=[at_most(NAME_MAX)],
        description=_l("How your lists show it. Empty: the message's subject."),
    )
    # Choices are the owner's messages, set by the route; the service checks
    # ownership again, so a forged id is refused with a message on this field.
    message_id = SelectField(_l("Message"), coerce=an_id, validate_choice=False)
    client_scope = RadioField(_l("Clients"), choices=SCOPE_CHOICES, default="chosen")
    client_search = StringField(_l("Search clients"), validators=[at_most(200)])
    client_ids = SelectMultipleField(_l("Chosen clients"), coerce=an_id, validate_choice=False)
    # The clients the edit form showed as boxes (hidden inputs): only these change.
    client_shown = SelectMultipleField(coerce=an_id, validate_choice=False)
    takes_new_clients = BooleanField(
        _l("Clients I add later join it too"),
        description=_l(
            "A client you add later, by hand or by an import, then gets its next sends"
            " without your editing it."
        ),
    )
    start_at = DateTimeLocalField(
        _l("Start"), format=DATETIME_FORMAT, validators=[InputRequired(_l("Enter the start."))]
    )
    end_at = DateTimeLocalField(
        _l("End"),
        format=DATETIME_FORMAT,
        validators=[Optional()],  # required unless "once": see `validate`
        description=_l(
            "Optional for “Once”: the send may then go out until a day after the start, "
            "if mailer was stopped at the start."
        ),
    )
    frequency = SelectField(_l("Frequency"), choices=FREQUENCY_CHOICES, default="once")
    timezone = StringField(
        _l("Time zone"),
        validators=[InputRequired(_l("Enter a time zone.")), at_most(64)],
        # Typed in any case, kept as the zone spells it: "europe/moscow" is Europe/Moscow.
        filters=[lambda typed: timezone_named(typed) or typed if typed else typed],
        description=_l("The start and end are read in this zone, e.g. Europe/Moscow."),
    )
    is_active = BooleanField(_l("Active"), default=True)

    def validate_timezone(self, field) -> None:
        if not is_known_timezone(field.data.strip()):
            raise ValidationError(_l("Unknown time zone. Use a name such as Europe/Moscow."))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.end_at.data is None and not self.end_at.errors and self.frequency.data != "once":
            self.end_at.errors.append(_l("Enter the end."))
            return False
        return valid

    def validate_start_at(self, field) -> None:
        self._check_the_clocks(field)

    def validate_end_at(self, field) -> None:
        self._check_the_clocks(field)

    def _check_the_clocks(self, field) -> None:
        """A time the clocks skip is refused, rather than moved on silently; so is a year
        outside YEARS (year 1 read in a zone behind UTC is no date at all)."""
        if field.data is not None and field.data.year not in YEARS:
            raise ValidationError(
                _l("Enter a year from %(first)d to %(last)d.", first=YEARS[0], last=YEARS[-1])
            )
        tz = (self.timezone.data or "").strip()
        if field.data is None or not is_known_timezone(tz) or exists_in_zone(field.data, tz):
            return
        raise ValidationError(
            _l(
                "There is no %(time)s on %(date)s in %(zone)s: the clocks go forward over "
                "it. Choose another time.",
                time=f"{field.data:%H:%M}",
                date=f"{field.data:%Y-%m-%d}",
                zone=tz,
            )
        )

    def client_selection(self) -> ClientSelection:
        return ClientSelection(
            scope=self.client_scope.data,
            ids=list(self.client_ids.data or []),
            search=self.client_search.data or "",
            shown=list(self.client_shown.data) if self.client_shown.raw_data else None,
        )

    def data_for_model(self) -> MailingData:
        tz = self.timezone.data.strip()
        start_at = local_to_utc(self.start_at.data, tz)
        end_at = local_to_utc(self.end_at.data, tz) if self.end_at.data else start_at + ONCE_WINDOW
        return MailingData(
            message_id=self.message_id.data,
            clients=self.client_selection(),
            start_at=start_at,
            end_at=end_at,
            frequency=self.frequency.data,
            timezone=tz,
            is_active=self.is_active.data,
            name=self.name.data or "",
            takes_new_clients=self.takes_new_clients.data,
        )


class MailingFilterForm(FlaskForm):
    """Filters of a list of mailings; read from the query string, so no CSRF."""

    class Meta:
        csrf = False

    q = StringField(_l("Name or subject"))
    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("", _l("Any")),
            SelectChoice("created", _l("Created")),
            SelectChoice("started", _l("Started")),
            SelectChoice("completed", _l("Completed")),
            SelectChoice("disabled", _l("Disabled")),
        ],
        default="",
    )


class ManagerMailingFilterForm(MailingFilterForm):
    """The managers' list filters by owner too."""

    owner = StringField(_l("Owner email"))
