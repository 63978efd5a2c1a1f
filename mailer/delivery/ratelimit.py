"""The SMTP account's sending rate, shared by every worker.

SEND_RATE_PER_SECOND and SEND_RATE_PER_DAY (0 = unlimited) bound the emails
all workers together hand to the SMTP server. With Redis the counters live
there and one Lua script checks and counts atomically, on Redis's clock, so
N workers on N machines share one budget. Without Redis (the embedded
default: one process) they are counted in memory.

Days are UTC days: a provider's daily quota is a rolling or calendar day of
its own, so set SEND_RATE_PER_DAY a little below it. A day's count that is
gone (Redis restarted without its data, or the embedded process restarted)
starts again from the attempt log's count of that day, not from zero: a
restart must not let a provider's daily quota be sent twice. What the log
does not hold is kept beside it (UnloggedSends): test emails, and the
attempts a mailing's deletion (or its owner's) takes along that day.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from mailer import outages
from mailer.extensions import db, insert_on_conflict
from mailer.models import Attempt, Mailing, UnloggedSends, User
from mailer.redis_client import redis_connection

log = logging.getLogger(__name__)

KEY_PREFIX = "mailer:rate:"
DAY_SECONDS = 86400
REDIS_RETRY_SECONDS = 2  # while Redis is away, a batch waits and asks again
_NEVER_SET = threading.Event()  # acquire's `stop` when nobody can stop it

# Grants up to ARGV[4] sends at once. Returns {0, µs left in this second, how many granted,
# the day}, {1, µs to wait} when this second's budget is spent, {2, seconds to the next
# UTC day} when today's is, {3, the day} when the day has no count: the caller asks again
# with what the attempt log counts that day as ARGV[5] (a count set meanwhile wins).
_LUA = """
local per_second = tonumber(ARGV[1])
local per_day = tonumber(ARGV[2])
local wanted = tonumber(ARGV[4])
local now = redis.call('TIME')
local seconds = tonumber(now[1])
local micros = tonumber(now[2])
local day = math.floor(seconds / 86400)
local day_key = ARGV[3] .. 'day:' .. day
local second_key = ARGV[3] .. 'second:' .. seconds
if per_day > 0 then
  local used = redis.call('GET', day_key)
  if not used then
    if ARGV[5] == '' then
      return {3, day}
    end
    used = ARGV[5]
    redis.call('SET', day_key, used, 'EX', 172800)
  end
  used = tonumber(used)
  if used >= per_day then
    return {2, 86400 - (seconds % 86400)}
  end
  wanted = math.min(wanted, per_day - used)
end
if per_second > 0 then
  local used = tonumber(redis.call('GET', second_key) or '0')
  if used >= per_second then
    return {1, 1000000 - micros}
  end
  wanted = math.min(wanted, per_second - used)
  redis.call('INCRBY', second_key, wanted)
  redis.call('EXPIRE', second_key, 2)
end
if per_day > 0 then
  redis.call('INCRBY', day_key, wanted)
  redis.call('EXPIRE', day_key, 172800)
end
return {0, 1000000 - micros, wanted, day}
"""
# Gives back a day's unused sends, unless the day's count is gone: a count made anew
# from the attempt log holds no share of them (and a negative count would hide its loss).
_RELEASE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECRBY', KEYS[1], ARGV[1])
end
return 0
"""
# Sends granted at once when the budget is generous: a Redis round trip per email
# would cost more than the email. Tight budgets are asked for one send at a time.
GRANT_BLOCK = 25
GENEROUS_PER_SECOND = 10 * GRANT_BLOCK
GENEROUS_PER_DAY = 400 * GRANT_BLOCK


class DayQuotaUsed(Exception):
    """Today's quota is spent; sending may go on at `until` (aware UTC)."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"daily sending quota used up until {until.isoformat()}")
        self.until = until


class WaitCalledOff(Exception):
    """The sender was asked to stop while it waited for the budget's Redis."""


class RateLimiter:
    """`acquire()` blocks for the per-second budget and raises DayQuotaUsed for the daily one.

    With a generous budget on Redis, sends are granted GRANT_BLOCK at a time; under
    a per-second limit they are used only within the second they were granted in
    (so that budget holds). `release()` gives the day's unused ones back.
    """

    def __init__(self, *, per_second: int, per_day: int, redis=None) -> None:
        self.per_second = per_second
        self.per_day = per_day
        self._script = redis.register_script(_LUA) if redis is not None else None
        self._release = redis.register_script(_RELEASE_LUA) if redis is not None else None
        generous = (not per_second or per_second >= GENEROUS_PER_SECOND) and (
            not per_day or per_day >= GENEROUS_PER_DAY
        )
        self.block = GRANT_BLOCK if generous and redis is not None else 1
        self._granted = 0  # sends granted and not used yet
        self._granted_until = 0.0  # monotonic end of the second they were granted in
        self._granted_day = 0

    @property
    def unlimited(self) -> bool:
        return not self.per_second and not self.per_day

    def acquire(
        self,
        before_waiting: Callable[[], None] | None = None,
        stop: threading.Event = _NEVER_SET,
    ) -> None:
        """`before_waiting` runs once if the budget makes this wait (the sender lets go of
        what it holds in the database meanwhile). Waiting for Redis ends in WaitCalledOff
        once `stop` is set: an outage can last longer than a stopping worker may."""
        if self.unlimited:
            return
        if self._granted:
            if not self.per_second or time.monotonic() < self._granted_until:
                self._granted -= 1
                return
            self.release()  # granted in a second that is over: that second's share lapsed
        day_count = None
        outage_said = False
        while True:
            asked_at = time.monotonic()  # before Redis read its clock: the second ends no sooner
            try:
                verdict, amount, *grant = self._check(self.block, day_count)
            except outages.REDIS_DOWN as error:  # the budget is in Redis: wait for it
                if not outage_said:
                    log.warning(
                        "rate limit: Redis unreachable (%s), sending waits until it is back",
                        outages.reason(error),
                    )
                    outage_said = True
                if before_waiting is not None:
                    before_waiting()
                    before_waiting = None
                if stop.wait(REDIS_RETRY_SECONDS):
                    raise WaitCalledOff from error
                continue
            if verdict == 3:
                day_count = _sent_on_day(amount)
                continue
            if verdict == 0:
                granted, self._granted_day = grant
                self._granted = granted - 1
                self._granted_until = asked_at + amount / 1_000_000
                return
            if verdict == 2:
                until = datetime.now(UTC) + timedelta(seconds=int(amount))
                raise DayQuotaUsed(until.replace(microsecond=0))
            if before_waiting is not None:
                before_waiting()
                before_waiting = None
            time.sleep(amount / 1_000_000)

    def release(self) -> None:
        """Give back today's unused sends (the per-second ones lapse by themselves)."""
        if self._granted and self.per_day and self._release is not None:
            try:
                self._release(keys=[f"{KEY_PREFIX}day:{self._granted_day}"], args=[self._granted])
            except outages.REDIS_DOWN as error:  # counted as sent: the safe side of the limit
                log.warning("rate limit: unused sends not given back: %s", outages.reason(error))
        self._granted = 0

    def _check(self, wanted: int = 1, day_count: int | None = None) -> tuple[int, ...]:
        if self._script is not None:
            count = "" if day_count is None else day_count
            reply = self._script(args=[self.per_second, self.per_day, KEY_PREFIX, wanted, count])
            return tuple(int(value) for value in reply)
        return _local_counter.check(self.per_second, self.per_day, day_count)


class _LocalCounter:
    """The same budget in memory, for the embedded default (one process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def check(self, per_second: int, per_day: int, day_count: int | None) -> tuple[int, ...]:
        with self.lock:
            now = time.time()
            seconds, micros = int(now), int((now % 1) * 1_000_000)
            day = seconds // DAY_SECONDS
            day_key, second_key = f"day:{day}", f"second:{seconds}"
            if per_day and day_key not in self.counts:
                if day_count is None:
                    return 3, day
                self.counts[day_key] = day_count
            if per_day and self.counts[day_key] >= per_day:
                return 2, DAY_SECONDS - seconds % DAY_SECONDS
            if per_second and self.counts.get(second_key, 0) >= per_second:
                return 1, 1_000_000 - micros
            # Keep only the current keys: the dict never grows.
            self.counts = {k: v for k, v in self.counts.items() if k in (day_key, second_key)}
            if per_second:
                self.counts[second_key] = self.counts.get(second_key, 0) + 1
            if per_day:
                self.counts[day_key] = self.counts.get(day_key, 0) + 1
            return 0, 1_000_000 - micros, 1, seconds // DAY_SECONDS


_local_counter = _LocalCounter()


def _sent_on_day(day: int) -> int:
    """The emails handed to the SMTP server on UTC day `day` (days since 1970), by the
    attempt log (every try counts, as the limiter counted it, but no bounce report) and
    what it does not hold (UnloggedSends)."""
    logged = db.session.scalar(select(func.count()).select_from(Attempt).where(*_on_day(day)))
    unlogged = db.session.get(UnloggedSends, day)
    return logged + (unlogged.sends if unlogged is not None else 0)


def _on_day(day: int) -> tuple:
    """The conditions of the attempts the limiter counted on UTC day `day`."""
    start = datetime.fromtimestamp(day * DAY_SECONDS, UTC)
    return (
        Attempt.attempted_at >= start,
        Attempt.attempted_at < start + timedelta(days=1),
        Attempt.reported.is_(False),
    )


def _today() -> int:
    return int(time.time()) // DAY_SECONDS


def count_unlogged(sends: int, connection: Connection | None = None) -> None:
    """Count `sends` handed to the SMTP server today that the attempt log will not hold,
    in the caller's transaction (its session's, or `connection`'s)."""
    if sends <= 0:
        return
    statement = insert_on_conflict(UnloggedSends).values(day=_today(), sends=sends)
    statement = statement.on_conflict_do_update(
        index_elements=[UnloggedSends.day],
        set_={"sends": UnloggedSends.sends + statement.excluded.sends},
    )
    (connection or db.session).execute(statement)


def _keep_todays_count(connection: Connection, whose) -> None:
    """Before a deletion takes attempts along (ON DELETE CASCADE): count today's."""
    today = select(func.count()).select_from(Attempt).where(whose, *_on_day(_today()))
    count_unlogged(connection.scalar(today) or 0, connection)


# Listening from this module's import on, which create_app makes sure of.
@event.listens_for(Mailing, "before_delete")
def _mailing_deleted(_mapper, connection: Connection, mailing: Mailing) -> None:
    _keep_todays_count(connection, Attempt.mailing_id == mailing.id)


@event.listens_for(User, "before_delete")
def _owner_deleted(_mapper, connection: Connection, user: User) -> None:
    _keep_todays_count(connection, Attempt.owner_id == user.id)


def limiter_from_config() -> RateLimiter:
    config = current_app.config
    per_second, per_day = config["SEND_RATE_PER_SECOND"], config["SEND_RATE_PER_DAY"]
    redis = redis_connection() if (per_second or per_day) else None
    return RateLimiter(per_second=per_second, per_day=per_day, redis=redis)


def reset_local_counters() -> None:
    """Forget the in-memory counts (tests; a restarted process starts fresh anyway)."""
    _local_counter.counts.clear()
