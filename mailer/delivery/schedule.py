"""When a mailing sends: pure time maths, no I/O.

A mailing sends its message once, or periodically (daily, weekly, monthly) from
``start_at`` up to and including ``end_at``. Every datetime passed in must be
timezone-aware (a naive one raises ``ValueError``); any aware datetime is
accepted and every datetime returned is in UTC.

Slots
    Slot 0 is ``start_at`` itself. Slot k > 0 keeps the start's *local wall-clock
    time* in the mailing's IANA time zone ``tz``, so 09:00 local stays 09:00
    local across DST changes (its UTC hour changes instead):

    - daily:   the start's local date + k days;
    - weekly:  the start's local date + 7k days;
    - monthly: the start's local date + k months, the day clamped to the last
      day of a shorter month and always taken from the *original* start day
      (a start on Jan 31 gives Feb 28/29, Mar 31, Apr 30, ...);
    - once:    slot 0 only.

Local -> UTC conversion uses zoneinfo's ``fold=0``, which picks the offset in
force *before* a transition:

- a local time that does not exist (spring-forward gap) is moved forward by
  the gap: 02:30 on the day Europe/Berlin skips 02:00-03:00 sends at 03:30 CEST;
- an ambiguous local time (fall-back) takes its first occurrence: 02:30 on the
  day Europe/Berlin repeats 02:00-03:00 sends at 02:30 CEST, not CET.

Catch-up after downtime
    After a send has been claimed, callers schedule the next one with
    ``next_send_time(after=now)``, and a new or re-enabled mailing gets
    ``first_send_time(now=now)``. Both return the next *future* slot, so a
    worker that was down for a week sends one catch-up run (the one that was
    already due) and then resumes on schedule: never a burst of the missed
    slots.

``next_send_time`` does not walk the slots from the start: it jumps to the slot
on ``after``'s local date (or month) and steps at most a few slots from there,
so its cost does not grow with the age of the mailing.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "FREQUENCIES",
    "GRACE",
    "first_send_time",
    "next_send_time",
    "next_send_times",
    "slot",
]

FREQUENCIES = ("once", "daily", "weekly", "monthly")

# A mailing whose start is at most this far in the past when it is created (or
# re-enabled) still sends at its start rather than waiting for the next slot.
GRACE = timedelta(minutes=1)

_STEP_DAYS = {"daily": 1, "weekly": 7}


# -- validation ---------------------------------------------------------------


def _aware_utc(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _zone(tz: str) -> ZoneInfo:
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"unknown time zone {tz!r}")
    try:
        return ZoneInfo(tz)
    # ZoneInfo raises ValueError for malformed keys or non-TZif files and
    # OSError for directories ("Europe") or absurdly long names.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _frequency(frequency: str) -> str:
    if frequency not in FREQUENCIES:
        raise ValueError(
            f"unknown frequency {frequency!r}; expected one of {', '.join(FREQUENCIES)}"
        )
    return frequency


# -- slot arithmetic ----------------------------------------------------------


def _add_months(start: date, months: int) -> date:
    """``start`` + ``months`` months, the day clamped to the target month's length."""
    year, month0 = divmod(start.year * 12 + start.month - 1 + months, 12)
    month = month0 + 1
    if not 1 <= year <= 9999:
        raise OverflowError("date out of range")
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _slot_utc(start_at: datetime, frequency: str, zone: ZoneInfo, index: int) -> datetime:
    """Slot ``index`` of a validated schedule; ``start_at`` is aware UTC.

    Raises OverflowError when the slot is not representable.
    """
    if index == 0:
        return start_at
    local = start_at.astimezone(zone)
    if frequency == "monthly":
        day = _add_months(local.date(), index)
    else:
        day = local.date() + timedelta(days=_STEP_DAYS[frequency] * index)
    # fold=0: gap times move forward by the gap, ambiguous times take the first occurrence.
    wall = datetime.combine(day, local.time(), tzinfo=zone)
    return wall.astimezone(UTC)


def _index_near(start_at: datetime, frequency: str, zone: ZoneInfo, after: datetime) -> int:
    """A slot index whose slot is within about one step of ``after`` (``after`` >= start_at)."""
    start_local = start_at.astimezone(zone)
    after_local = after.astimezone(zone)
    if frequency == "monthly":
        return (after_local.year - start_local.year) * 12 + after_local.month - start_local.month
    return (after_local.date() - start_local.date()).days // _STEP_DAYS[frequency]


# -- public API ---------------------------------------------------------------


def slot(*, start_at: datetime, frequency: str, tz: str, index: int) -> datetime:
    """The ``index``-th send time in UTC; index 0 is ``start_at`` itself.

    Raises ValueError for a naive ``start_at``, an unknown frequency or time
    zone, a negative index, an index > 0 for a ``once`` mailing, or a slot
    beyond the representable date range.
    """
    start = _aware_utc("start_at", start_at)
    frequency = _frequency(frequency)
    zone = _zone(tz)
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"index must be an int, got {type(index).__name__}")
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    if frequency == "once" and index > 0:
        raise ValueError(f"a 'once' mailing has only slot 0, got index {index}")
    try:
        return _slot_utc(start, frequency, zone, index)
    except OverflowError:
        raise ValueError(f"slot {index} is out of the representable date range") from None


def next_send_time(
    *,
    start_at: datetime,
    end_at: datetime,
    frequency: str,
    tz: str,
    after: datetime,
) -> datetime | None:
    """The first slot strictly after ``after`` and not after ``end_at`` (inclusive), in UTC.

    When ``after`` is before ``start_at`` that is ``start_at`` itself. Returns
    None when no slot remains (a ``once`` mailing after its start, a schedule
    past ``end_at``, or ``end_at`` before ``start_at``).
    """
    start = _aware_utc("start_at", start_at)
    end = _aware_utc("end_at", end_at)
    after = _aware_utc("after", after)
    frequency = _frequency(frequency)
    zone = _zone(tz)

    if after < start:
        return start if start <= end else None
    if frequency == "once" or after >= end:
        return None

    # Slots never decrease, so the answer is the smallest index whose slot is
    # > after. Jump near it, back off until the slot is <= after, then step on.
    try:
        index = max(0, _index_near(start, frequency, zone, after))
        while index > 0 and _slot_utc(start, frequency, zone, index) > after:
            index -= 1
        candidate = _slot_utc(start, frequency, zone, index)
        while candidate <= after:
            index += 1
            candidate = _slot_utc(start, frequency, zone, index)
    except OverflowError:
        # Past datetime.max, hence past any end_at.
        return None
    return candidate if candidate <= end else None


def next_send_times(
    *,
    start_at: datetime,
    end_at: datetime,
    frequency: str,
    tz: str,
    after: datetime,
    count: int = 5,
) -> list[datetime]:
    """Up to ``count`` upcoming slots strictly after ``after``, increasing, in UTC.

    Fewer (possibly none) when ``end_at`` comes first. For the mailing page.
    """
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, got {type(count).__name__}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    times: list[datetime] = []
    current = after
    for _ in range(count):
        found = next_send_time(
            start_at=start_at, end_at=end_at, frequency=frequency, tz=tz, after=current
        )
        if found is None:
            break
        times.append(found)
        current = found
    if not times:
        # Validate the arguments even when count == 0.
        next_send_time(start_at=start_at, end_at=end_at, frequency=frequency, tz=tz, after=after)
    return times


def first_send_time(
    *,
    start_at: datetime,
    end_at: datetime,
    frequency: str,
    tz: str,
    now: datetime,
) -> datetime | None:
    """Where a new or re-enabled mailing's next send goes, in UTC; None when nothing remains.

    - ``start_at`` when it is at or after ``now - GRACE`` (in the future, equal
      to now, or only just past, e.g. a mailing created seconds after its start);
    - otherwise the first slot strictly after ``now``: the slots missed while the
      mailing was disabled (or before it was created) are skipped, not sent.

    Never later than ``end_at``.
    """
    start = _aware_utc("start_at", start_at)
    end = _aware_utc("end_at", end_at)
    now = _aware_utc("now", now)
    _frequency(frequency)
    _zone(tz)
    if start >= now - GRACE:
        return start if start <= end else None
    return next_send_time(start_at=start, end_at=end, frequency=frequency, tz=tz, after=now)
