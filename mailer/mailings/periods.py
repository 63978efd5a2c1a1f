"""Whole days in the viewer's time zone, as the From and To filters of the attempt log and
the report give them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import ColumnElement
from wtforms import DateField
from wtforms.validators import Optional, ValidationError


def local_midnight(day: date, tz: str, *, days_later: int = 0) -> datetime | None:
    """The UTC time of that local midnight; None past the calendar's ends (a filter
    from the year 1 or to 9999-12-31 bounds nothing)."""
    try:
        midnight = datetime.combine(day + timedelta(days=days_later), time(0))
        return midnight.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
    except OverflowError:
        return None


class Period(NamedTuple):
    """From `start` (inclusive) to `end` (exclusive), in UTC; None leaves that side open."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of_days(cls, first: date | None, last: date | None, tz: str) -> Period:
        """From the local midnight that starts `first` to the one that ends `last`."""
        return cls(
            local_midnight(first, tz) if first else None,
            local_midnight(last, tz, days_later=1) if last else None,
        )

    def bounds(self, moment) -> list[ColumnElement[bool]]:
        """Conditions that keep `moment` (a column) within the period."""
        conditions = [] if self.start is None else [moment >= self.start]
        return conditions if self.end is None else [*conditions, moment < self.end]


ALL_TIME = Period()


class DateRangeForm(FlaskForm):
    """From and To, read from the query string: a GET form, so no CSRF token. A bad date
    is shown as the field's error and left out."""

    class Meta:
        csrf = False

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])

    def validate_date_to(self, field) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("This is before the “From” date."))

    def valid_dates(self) -> tuple[date | None, date | None]:
        """From and To, each None when not given or refused (a To before the From is left
        out, not applied: it would match nothing, and the page would say nothing happened)."""
        self.validate()
        start = None if self.date_from.errors else self.date_from.data
        end = None if self.date_to.errors else self.date_to.data
        return start, end
