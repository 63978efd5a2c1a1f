"""Send-time maths: slots in the mailing's local time, DST, month ends, end_at, catch-up."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.delivery import schedule
from mailer.delivery.schedule import (
    FREQUENCIES,
    GRACE,
    first_send_time,
    next_send_time,
    next_send_times,
    slot,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
FAR_END = datetime(2100, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args: int, fold: int = 0) -> datetime:
    """A local wall-clock time in `tz`, as an aware UTC datetime."""
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)


def slots(start_at: datetime, frequency: str, tz: str, count: int) -> list[datetime]:
    return [slot(start_at=start_at, frequency=frequency, tz=tz, index=i) for i in range(count)]


def wall_clock(moment: datetime, tz: str) -> tuple[int, ...]:
    """(year, month, day, hour, minute) of `moment` on a clock in `tz`."""
    return tuple(moment.astimezone(ZoneInfo(tz)).timetuple()[:5])


def local_hours(times: list[datetime], tz: str) -> list[int]:
    return [t.astimezone(ZoneInfo(tz)).hour for t in times]


# -- slots --------------------------------------------------------------------


def test_slot_zero_is_start_at_for_every_frequency() -> None:
    start = utc(2024, 5, 17, 12, 34, 56, 789)
    for frequency in FREQUENCIES:
        assert slot(start_at=start, frequency=frequency, tz=BERLIN, index=0) == start


def test_slots_are_returned_in_utc() -> None:
    result = slot(start_at=local(BERLIN, 2024, 1, 1, 9), frequency="daily", tz=BERLIN, index=3)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("tz", "start", "utc_hours"),
    [
        # Europe/Berlin springs forward on 2024-03-31: 09:00 CET = 08 UTC, CEST = 07 UTC.
        (BERLIN, (2024, 3, 29, 9), [8, 8, 7, 7]),
        # America/New_York springs forward on 2024-03-10: EST = 14 UTC, EDT = 13 UTC.
        (NEW_YORK, (2024, 3, 8, 9), [14, 14, 13, 13]),
    ],
)
def test_daily_at_nine_stays_at_nine_local_across_spring_forward(
    tz: str, start: tuple[int, ...], utc_hours: list[int]
) -> None:
    times = slots(local(tz, *start), "daily", tz, 4)
    assert local_hours(times, tz) == [9, 9, 9, 9]
    assert [t.hour for t in times] == utc_hours
    first_day = date(*start[:3])
    assert [t.astimezone(ZoneInfo(tz)).date() for t in times] == [
        first_day + timedelta(days=i) for i in range(4)
    ]


@pytest.mark.parametrize(
    ("tz", "start", "utc_hours"),
    [
        # Europe/Berlin falls back on 2024-10-27.
        (BERLIN, (2024, 10, 25, 9), [7, 7, 8, 8]),
        # America/New_York falls back on 2024-11-03.
        (NEW_YORK, (2024, 11, 1, 9), [13, 13, 14, 14]),
    ],
)
def test_daily_at_nine_stays_at_nine_local_across_fall_back(
    tz: str, start: tuple[int, ...], utc_hours: list[int]
) -> None:
    times = slots(local(tz, *start), "daily", tz, 4)
    assert local_hours(times, tz) == [9, 9, 9, 9]
    assert [t.hour for t in times] == utc_hours


def test_daily_through_a_whole_year_keeps_local_time_and_changes_utc_offset_twice() -> None:
    start = local(BERLIN, 2024, 1, 1, 9)
    times = slots(start, "daily", BERLIN, 366)
    assert set(local_hours(times, BERLIN)) == {9}
    utc_hours = [t.hour for t in times]
    changes = sum(1 for a, b in zip(utc_hours, utc_hours[1:], strict=False) if a != b)
    assert changes == 2
    assert times[-1].astimezone(ZoneInfo(BERLIN)).date() == date(2024, 12, 31)


def test_weekly_keeps_weekday_and_local_time_across_dst() -> None:
    # Monday 2024-10-21 09:00 in New York, which falls back on Sunday 2024-11-03.
    start = local(NEW_YORK, 2024, 10, 21, 9)
    times = slots(start, "weekly", NEW_YORK, 4)
    local_times = [t.astimezone(ZoneInfo(NEW_YORK)) for t in times]
    assert [t.date() for t in local_times] == [
        date(2024, 10, 21),
        date(2024, 10, 28),
        date(2024, 11, 4),
        date(2024, 11, 11),
    ]
    assert {t.weekday() for t in local_times} == {0}
    assert {t.hour for t in local_times} == {9}
    assert [t.hour for t in times] == [13, 13, 14, 14]


@pytest.mark.parametrize(
    ("year", "february_days"),
    [(2023, 28), (2024, 29)],
)
def test_monthly_from_jan_31_clamps_to_month_end_without_drifting(
    year: int, february_days: int
) -> None:
    start = local(BERLIN, year, 1, 31, 9)
    times = slots(start, "monthly", BERLIN, 6)
    local_times = [t.astimezone(ZoneInfo(BERLIN)) for t in times]
    assert [t.date() for t in local_times] == [
        date(year, 1, 31),
        date(year, 2, february_days),
        date(year, 3, 31),
        date(year, 4, 30),
        date(year, 5, 31),
        date(year, 6, 30),
    ]
    assert {t.hour for t in local_times} == {9}


def test_monthly_crosses_the_year_boundary() -> None:
    start = utc(2023, 11, 30, 6)
    times = slots(start, "monthly", "UTC", 5)
    assert times == [
        utc(2023, 11, 30, 6),
        utc(2023, 12, 30, 6),
        utc(2024, 1, 30, 6),
        utc(2024, 2, 29, 6),
        utc(2024, 3, 30, 6),
    ]


def test_monthly_slot_far_in_the_future_is_computed_directly() -> None:
    start = utc(2024, 1, 31, 6)
    assert slot(start_at=start, frequency="monthly", tz="UTC", index=12 * 100 + 1) == utc(
        2124, 2, 29, 6
    )


def test_nonexistent_local_time_moves_forward_by_the_gap() -> None:
    # Berlin skips 02:00-03:00 on 2024-03-31: 02:30 does not exist that day.
    start = local(BERLIN, 2024, 3, 30, 2, 30)
    times = slots(start, "daily", BERLIN, 3)
    assert [wall_clock(t, BERLIN) for t in times] == [
        (2024, 3, 30, 2, 30),
        (2024, 3, 31, 3, 30),
        (2024, 4, 1, 2, 30),
    ]
    assert times[1] == utc(2024, 3, 31, 1, 30)


def test_nonexistent_local_time_moves_forward_in_new_york() -> None:
    # New York skips 02:00-03:00 on 2024-03-10.
    start = local(NEW_YORK, 2024, 3, 9, 2, 30)
    moved = slot(start_at=start, frequency="daily", tz=NEW_YORK, index=1)
    assert moved == utc(2024, 3, 10, 7, 30)
    assert wall_clock(moved, NEW_YORK) == (2024, 3, 10, 3, 30)


def test_ambiguous_local_time_takes_the_first_occurrence() -> None:
    # Berlin repeats 02:00-03:00 on 2024-10-27: 02:30 CEST (00:30 UTC) comes first.
    start = local(BERLIN, 2024, 10, 26, 2, 30)
    ambiguous = slot(start_at=start, frequency="daily", tz=BERLIN, index=1)
    assert ambiguous == utc(2024, 10, 27, 0, 30)
    assert ambiguous != local(BERLIN, 2024, 10, 27, 2, 30, fold=1)


def test_start_at_second_occurrence_of_ambiguous_time_is_kept_as_slot_zero() -> None:
    start = local(BERLIN, 2024, 10, 27, 2, 30, fold=1)
    assert start == utc(2024, 10, 27, 1, 30)
    assert slots(start, "daily", BERLIN, 2) == [start, utc(2024, 10, 28, 1, 30)]


def test_a_skipped_calendar_day_does_not_send_twice() -> None:
    # Samoa skipped 2011-12-30 entirely (UTC-10 -> UTC+14): the slot for the missing
    # day moves forward onto the next day's slot, and the mailing sends once there.
    apia = "Pacific/Apia"
    start = local(apia, 2011, 12, 28, 9)
    times = next_send_times(
        start_at=start, end_at=FAR_END, frequency="daily", tz=apia, after=start - timedelta(1)
    )
    assert [wall_clock(t, apia) for t in times] == [
        (2011, 12, 28, 9, 0),
        (2011, 12, 29, 9, 0),
        (2011, 12, 31, 9, 0),
        (2012, 1, 1, 9, 0),
        (2012, 1, 2, 9, 0),
    ]


def test_once_has_only_slot_zero() -> None:
    start = utc(2024, 6, 1, 9)
    assert slot(start_at=start, frequency="once", tz="UTC", index=0) == start
    with pytest.raises(ValueError, match="once"):
        slot(start_at=start, frequency="once", tz="UTC", index=1)


def test_negative_slot_index_raises() -> None:
    with pytest.raises(ValueError, match="index"):
        slot(start_at=utc(2024, 6, 1), frequency="daily", tz="UTC", index=-1)


def test_slot_beyond_representable_dates_raises_value_error() -> None:
    with pytest.raises(ValueError, match="range"):
        slot(start_at=utc(9999, 6, 1), frequency="monthly", tz="UTC", index=12)


# -- next_send_time -----------------------------------------------------------


def test_once_sends_only_at_start() -> None:
    start = utc(2024, 6, 1, 9)
    kwargs = {"start_at": start, "end_at": FAR_END, "frequency": "once", "tz": "UTC"}
    assert next_send_time(**kwargs, after=start - timedelta(seconds=1)) == start
    assert next_send_time(**kwargs, after=start) is None
    assert next_send_time(**kwargs, after=start + timedelta(days=400)) is None


def test_after_before_start_returns_start() -> None:
    start = local(BERLIN, 2024, 6, 1, 9)
    for frequency in FREQUENCIES:
        result = next_send_time(
            start_at=start,
            end_at=FAR_END,
            frequency=frequency,
            tz=BERLIN,
            after=start - timedelta(days=30),
        )
        assert result == start


def test_after_before_start_with_end_before_start_returns_none() -> None:
    start = utc(2024, 6, 1, 9)
    result = next_send_time(
        start_at=start,
        end_at=start - timedelta(hours=1),
        frequency="daily",
        tz="UTC",
        after=start - timedelta(days=1),
    )
    assert result is None


def test_after_on_a_slot_returns_the_following_slot() -> None:
    start = local(BERLIN, 2024, 3, 29, 9)
    second = slot(start_at=start, frequency="daily", tz=BERLIN, index=2)
    result = next_send_time(
        start_at=start, end_at=FAR_END, frequency="daily", tz=BERLIN, after=second
    )
    assert result == slot(start_at=start, frequency="daily", tz=BERLIN, index=3)


def test_end_at_is_inclusive() -> None:
    start = utc(2024, 6, 1, 9)
    end = utc(2024, 6, 3, 9)
    kwargs = {"start_at": start, "end_at": end, "frequency": "daily", "tz": "UTC"}
    assert next_send_time(**kwargs, after=utc(2024, 6, 2, 12)) == end


def test_nothing_is_sent_after_end_at() -> None:
    start = utc(2024, 6, 1, 9)
    end = utc(2024, 6, 3, 8, 59)
    kwargs = {"start_at": start, "end_at": end, "frequency": "daily", "tz": "UTC"}
    assert next_send_time(**kwargs, after=utc(2024, 6, 2, 12)) is None
    assert next_send_time(**kwargs, after=end) is None
    assert next_send_time(**kwargs, after=end + timedelta(days=10)) is None


def test_long_downtime_gives_only_the_next_future_slot() -> None:
    start = local(NEW_YORK, 2024, 1, 1, 9)
    # The worker was down for ~three months; it claimed and sent one catch-up
    # run at `now` and asks for the next send time.
    now = local(NEW_YORK, 2024, 4, 2, 15, 17)
    result = next_send_time(
        start_at=start, end_at=FAR_END, frequency="daily", tz=NEW_YORK, after=now
    )
    assert result == local(NEW_YORK, 2024, 4, 3, 9)
    assert result > now


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        ("daily", (2031, 7, 16, 9)),
        ("weekly", (2031, 7, 21, 9)),  # start is a Monday
        ("monthly", (2031, 8, 1, 9)),
    ],
)
def test_next_send_time_years_after_start_is_exact(
    frequency: str, expected: tuple[int, ...]
) -> None:
    start = local(BERLIN, 2024, 4, 1, 9)
    after = local(BERLIN, 2031, 7, 15, 9, 0, 1)
    result = next_send_time(
        start_at=start, end_at=FAR_END, frequency=frequency, tz=BERLIN, after=after
    )
    assert result == local(BERLIN, *expected)


@pytest.mark.parametrize("frequency", ["daily", "weekly", "monthly"])
def test_next_send_time_does_not_walk_every_slot_of_a_long_mailing(
    monkeypatch: pytest.MonkeyPatch, frequency: str
) -> None:
    calls = 0
    real = schedule._slot_utc

    def counting(*args: object) -> datetime:
        nonlocal calls
        calls += 1
        return real(*args)

    monkeypatch.setattr(schedule, "_slot_utc", counting)
    start = local(BERLIN, 1971, 1, 31, 9)
    after = local(BERLIN, 2090, 10, 27, 12)
    result = next_send_time(
        start_at=start, end_at=FAR_END, frequency=frequency, tz=BERLIN, after=after
    )
    assert result is not None
    assert result > after
    assert calls <= 5


def test_non_utc_aware_inputs_are_accepted_and_results_are_utc() -> None:
    berlin = ZoneInfo(BERLIN)
    start = datetime(2024, 6, 1, 9, tzinfo=berlin)
    result = next_send_time(
        start_at=start,
        end_at=datetime(2024, 12, 31, tzinfo=berlin),
        frequency="daily",
        tz=BERLIN,
        after=datetime(2024, 6, 1, 9, tzinfo=berlin),
    )
    assert result == utc(2024, 6, 2, 7)
    assert result.tzinfo is UTC


# -- next_send_times ----------------------------------------------------------


def test_next_send_times_returns_five_increasing_times() -> None:
    start = local(BERLIN, 2024, 3, 28, 9)
    after = local(BERLIN, 2024, 3, 29, 10)
    times = next_send_times(
        start_at=start, end_at=FAR_END, frequency="daily", tz=BERLIN, after=after
    )
    assert len(times) == 5
    assert all(a < b for a, b in zip(times, times[1:], strict=False))
    assert times[0] > after
    assert times == [local(BERLIN, 2024, 3, day, 9) for day in (30, 31)] + [
        local(BERLIN, 2024, 4, day, 9) for day in (1, 2, 3)
    ]


def test_next_send_times_stops_at_end_at() -> None:
    start = utc(2024, 6, 1, 9)
    times = next_send_times(
        start_at=start,
        end_at=utc(2024, 6, 3, 9),
        frequency="daily",
        tz="UTC",
        after=start - timedelta(days=1),
        count=10,
    )
    assert times == [utc(2024, 6, 1, 9), utc(2024, 6, 2, 9), utc(2024, 6, 3, 9)]


def test_next_send_times_for_once_is_just_the_start() -> None:
    start = utc(2024, 6, 1, 9)
    kwargs = {"start_at": start, "end_at": FAR_END, "frequency": "once", "tz": "UTC"}
    assert next_send_times(**kwargs, after=start - timedelta(days=1)) == [start]
    assert next_send_times(**kwargs, after=start) == []


def test_next_send_times_with_zero_count_is_empty_but_still_validates() -> None:
    kwargs = {"start_at": utc(2024, 6, 1), "end_at": FAR_END, "after": utc(2024, 6, 1)}
    assert next_send_times(**kwargs, frequency="daily", tz="UTC", count=0) == []
    with pytest.raises(ValueError, match="Mars/Base"):
        next_send_times(**kwargs, frequency="daily", tz="Mars/Base", count=0)
    with pytest.raises(ValueError, match="count"):
        next_send_times(**kwargs, frequency="daily", tz="UTC", count=-1)


# -- first_send_time ----------------------------------------------------------


def test_first_send_time_is_start_when_start_is_in_the_future() -> None:
    now = utc(2024, 6, 1, 8)
    start = utc(2024, 6, 5, 9)
    result = first_send_time(start_at=start, end_at=FAR_END, frequency="daily", tz="UTC", now=now)
    assert result == start


def test_first_send_time_is_start_when_start_equals_now() -> None:
    now = utc(2024, 6, 1, 9)
    result = first_send_time(start_at=now, end_at=FAR_END, frequency="once", tz="UTC", now=now)
    assert result == now


@pytest.mark.parametrize("late", [timedelta(seconds=5), GRACE])
def test_first_send_time_is_start_when_start_is_within_grace(late: timedelta) -> None:
    start = utc(2024, 6, 1, 9)
    result = first_send_time(
        start_at=start, end_at=FAR_END, frequency="once", tz="UTC", now=start + late
    )
    assert result == start


def test_first_send_time_just_outside_grace_skips_to_the_next_slot() -> None:
    start = utc(2024, 6, 1, 9)
    now = start + GRACE + timedelta(microseconds=1)
    kwargs = {"start_at": start, "end_at": FAR_END, "tz": "UTC", "now": now}
    assert first_send_time(**kwargs, frequency="daily") == utc(2024, 6, 2, 9)
    assert first_send_time(**kwargs, frequency="once") is None


def test_first_send_time_for_start_long_past_is_the_next_future_slot_only() -> None:
    start = local(BERLIN, 2023, 1, 31, 9)
    now = local(BERLIN, 2024, 2, 10, 12)
    kwargs = {"start_at": start, "end_at": FAR_END, "tz": BERLIN, "now": now}
    assert first_send_time(**kwargs, frequency="daily") == local(BERLIN, 2024, 2, 11, 9)
    assert first_send_time(**kwargs, frequency="weekly") == local(BERLIN, 2024, 2, 13, 9)
    assert first_send_time(**kwargs, frequency="monthly") == local(BERLIN, 2024, 2, 29, 9)


def test_first_send_time_is_none_when_nothing_remains() -> None:
    start = utc(2024, 6, 1, 9)
    end = utc(2024, 6, 10, 9)
    assert (
        first_send_time(
            start_at=start, end_at=end, frequency="daily", tz="UTC", now=utc(2024, 6, 10, 9)
        )
        is None
    )
    # A future start beyond its own end never sends.
    assert (
        first_send_time(
            start_at=start, end_at=start - timedelta(1), frequency="daily", tz="UTC", now=start
        )
        is None
    )


# -- validation ---------------------------------------------------------------

NAIVE = datetime(2024, 6, 1, 9)  # noqa: DTZ001 - deliberately naive


@pytest.mark.parametrize("argument", ["start_at", "end_at", "after"])
def test_next_send_time_rejects_naive_datetimes(argument: str) -> None:
    kwargs = {"start_at": utc(2024, 6, 1), "end_at": FAR_END, "after": utc(2024, 6, 2)}
    kwargs[argument] = NAIVE
    with pytest.raises(ValueError, match=f"{argument} must be timezone-aware"):
        next_send_time(**kwargs, frequency="daily", tz="UTC")


def test_slot_and_first_send_time_reject_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        slot(start_at=NAIVE, frequency="daily", tz="UTC", index=0)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        first_send_time(
            start_at=utc(2024, 6, 1), end_at=FAR_END, frequency="daily", tz="UTC", now=NAIVE
        )


@pytest.mark.parametrize("tz", ["Mars/Base", "", "Europe", "Europe/", "../etc/passwd", "utc"])
def test_unknown_time_zone_raises_value_error(tz: str) -> None:
    with pytest.raises(ValueError, match=r"unknown time zone"):
        next_send_time(
            start_at=utc(2024, 6, 1),
            end_at=FAR_END,
            frequency="daily",
            tz=tz,
            after=utc(2024, 6, 2),
        )


def test_unknown_time_zone_message_names_the_zone() -> None:
    with pytest.raises(ValueError, match=r"^unknown time zone 'Mars/Base'$"):
        slot(start_at=utc(2024, 6, 1), frequency="daily", tz="Mars/Base", index=0)


@pytest.mark.parametrize("frequency", ["hourly", "Daily", ""])
def test_unknown_frequency_raises_value_error(frequency: str) -> None:
    with pytest.raises(ValueError, match="unknown frequency"):
        first_send_time(
            start_at=utc(2024, 6, 1),
            end_at=FAR_END,
            frequency=frequency,
            tz="UTC",
            now=utc(2024, 6, 2),
        )


# -- properties ---------------------------------------------------------------

ZONES = (
    "UTC",
    BERLIN,
    NEW_YORK,
    "Australia/Sydney",  # southern hemisphere: DST around the new year
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # half-hour offset, no DST
)
STEP_DAYS = {"daily": 1, "weekly": 7}


def reference_slots(start_at: datetime, frequency: str, tz: str) -> Iterator[datetime]:
    """Every slot, in order, stepping local dates one period at a time (brute force)."""
    zone = ZoneInfo(tz)
    start_local = start_at.astimezone(zone)
    wall = start_local.time()
    yield start_at
    if frequency == "once":
        return
    day = start_local.date()
    year, month = day.year, day.month
    while True:
        if frequency == "monthly":
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
            day = date(year, month, min(start_local.day, calendar.monthrange(year, month)[1]))
        else:
            day += timedelta(days=STEP_DAYS[frequency])
        yield datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def brute_force_next(
    start_at: datetime, end_at: datetime, frequency: str, tz: str, after: datetime
) -> datetime | None:
    for candidate in reference_slots(start_at, frequency, tz):
        if candidate > end_at:
            return None
        if candidate > after:
            return candidate
    return None


def wall_time_exists(day: date, wall: time, zone: ZoneInfo) -> bool:
    naive = datetime.combine(day, wall)
    round_trip = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return round_trip.replace(tzinfo=None) == naive


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, object]:
    tz = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(tz)
    local_day = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
    # Hours 1-3 hold most DST transitions; weight them so gaps and folds get hit.
    hour = draw(st.integers(0, 23) | st.sampled_from([1, 2, 3]))
    minute = draw(st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59))
    second = draw(st.integers(0, 59))
    fold = draw(st.integers(0, 1))
    naive_start = datetime.combine(local_day, time(hour, minute, second))
    start = naive_start.replace(tzinfo=zone, fold=fold).astimezone(UTC)
    frequency = draw(st.sampled_from(FREQUENCIES))
    end = start + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3 * 366)))
    if draw(st.booleans()):
        after = start + draw(
            st.timedeltas(min_value=timedelta(days=-10), max_value=timedelta(days=3 * 366))
        )
    else:
        # Exactly on a slot, or a second either side of it.
        index = 0 if frequency == "once" else draw(st.integers(0, 36))
        nudge = timedelta(seconds=draw(st.sampled_from([-1, 0, 1])))
        after = slot(start_at=start, frequency=frequency, tz=tz, index=index) + nudge
    return {"start_at": start, "end_at": end, "frequency": frequency, "tz": tz, "after": after}


@settings(max_examples=200, deadline=None)
@given(schedules())
def test_property_next_send_time_is_the_first_slot_after_after(case: dict) -> None:
    result = next_send_time(**case)
    expected = brute_force_next(**case)
    assert result == expected
    if result is None:
        return
    start, end, after = case["start_at"], case["end_at"], case["after"]
    assert after < result <= end
    assert result.tzinfo is UTC
    if after < start:
        assert result == start

    zone = ZoneInfo(case["tz"])
    start_local = start.astimezone(zone)
    result_local = result.astimezone(zone)
    if not wall_time_exists(result_local.date(), start_local.time(), zone):
        return  # moved forward out of a gap; covered by the example tests
    assert result_local.time() == start_local.time()
    frequency = case["frequency"]
    if frequency == "once":
        assert result == start
    elif frequency == "monthly":
        month_days = calendar.monthrange(result_local.year, result_local.month)[1]
        assert result_local.day == min(start_local.day, month_days)
    else:
        days = (result_local.date() - start_local.date()).days
        assert days >= 0
        assert days % STEP_DAYS[frequency] == 0


@settings(max_examples=200, deadline=None)
@given(schedules(), st.integers(0, 8))
def test_property_next_send_times_are_consecutive_increasing_slots(case: dict, count: int) -> None:
    times = next_send_times(**case, count=count)
    assert len(times) <= count
    previous = case["after"]
    for found in times:
        assert found == brute_force_next(**{**case, "after": previous})
        assert previous < found <= case["end_at"]
        previous = found
    if len(times) < count:
        assert next_send_time(**{**case, "after": previous}) is None


@settings(max_examples=200, deadline=None)
@given(schedules(), st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=800)))
def test_property_first_send_time_is_start_or_next_future_slot(
    case: dict, since_start: timedelta
) -> None:
    now = case["start_at"] + since_start
    args = {key: case[key] for key in ("start_at", "end_at", "frequency", "tz")}
    result = first_send_time(**args, now=now)
    if case["start_at"] >= now - GRACE:
        assert result == case["start_at"]
    else:
        assert result == brute_force_next(**args, after=now)
        assert result is None or result > now
