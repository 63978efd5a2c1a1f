"""The SMTP account's rate limit: shared by all workers; a spent day pauses until tomorrow."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from datetime import timedelta

import pytest

from mailer.delivery import dispatch, progress, ratelimit, sender
from mailer.delivery.ratelimit import GRANT_BLOCK, RateLimiter
from mailer.extensions import db
from mailer.models import Delivery, Run, utcnow
from tests.test_delivery.conftest import add_clients, statuses
from tests.test_delivery.test_dispatch import _flask, _process_env


def test_daily_quota_holds_across_two_workers_and_pauses_the_run(
    test_environ, redis_conn, via_sink, mailing_for, user
):
    later = utcnow() + timedelta(days=1)
    mailing = mailing_for(start_at=later, next_send_at=later)
    add_clients(user, mailing, 20)
    env = _process_env(test_environ, via_sink.port, SEND_RATE_PER_DAY="7", SEND_BATCH_SIZE="5")
    cwd = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    subprocess.run(_flask("mailing-start-now", "--yes"), env=env, cwd=cwd, check=True)
    workers = [subprocess.Popen(_flask("worker", "--burst"), env=env, cwd=cwd) for _ in range(2)]
    for worker in workers:
        assert worker.wait(60) == 0
    assert len(via_sink.received) == 7
    assert set(via_sink.to_counts().values()) == {1}
    assert statuses() == {"sent": 7, "retry": 13}
    run = db.session.scalars(db.select(Run)).one()
    assert run.paused_until > utcnow()
    waiting = db.session.scalars(db.select(Delivery).where(Delivery.status == "retry")).all()
    assert {d.next_try_at for d in waiting} == {run.paused_until}
    assert {d.tries for d in waiting} == {0}  # deferred, not tried


def test_daily_quota_in_process_pauses_and_progress_says_until_when(
    via_sink, mailing_for, sending_config, user, run_jobs
):
    sending_config(SEND_RATE_PER_DAY=4, SEND_BATCH_SIZE=3)
    mailing = mailing_for()
    add_clients(user, mailing, 10)
    dispatch.dispatch_due()
    run_jobs()
    assert len(via_sink.received) == 4
    shown = progress.mailing_progress(mailing.id)
    assert shown["sent"] == 4
    assert shown["pending"] == 6
    assert shown["paused_until"] is not None
    assert shown["finished_at"] is None
    dispatch.dispatch_due()  # a tick the same day: still paused, nothing sent
    run_jobs()
    assert len(via_sink.received) == 4


def test_per_second_limit_is_shared_by_two_limiters_on_redis(redis_conn):
    first = RateLimiter(per_second=5, per_day=0, redis=redis_conn)
    second = RateLimiter(per_second=5, per_day=0, redis=redis_conn)
    for _ in range(5):  # retry when a second boundary falls inside the loop
        redis_conn.flushdb()
        before = redis_conn.time()[0]
        verdicts = [(first if n % 2 else second)._check()[0] for n in range(12)]
        if redis_conn.time()[0] == before:
            break
    assert verdicts.count(0) == 5
    assert set(verdicts[5:]) == {1}


def test_per_second_limit_spaces_sends_but_sends_them_all(
    via_sink, mailing_for, sending_config, user, run_jobs
):
    sending_config(SEND_RATE_PER_SECOND=3)
    mailing = mailing_for()
    add_clients(user, mailing, 7)
    dispatch.dispatch_due()
    run_jobs()
    assert len(via_sink.received) == 7
    assert statuses() == {"sent": 7}


def test_paused_run_resumes_the_next_day(via_sink, mailing_for, sending_config, user, run_jobs):
    import time_machine

    from mailer.redis_client import redis_connection

    sending_config(SEND_RATE_PER_DAY=4)
    mailing = mailing_for()
    add_clients(user, mailing, 6)
    dispatch.dispatch_due()
    run_jobs()
    paused_until = db.session.scalars(db.select(Run)).one().paused_until
    with time_machine.travel(paused_until + timedelta(minutes=1), tick=False):
        if redis_connection() is not None:  # Redis keeps its own clock: start its new day here
            for key in redis_connection().scan_iter("mailer:rate:day:*"):
                redis_connection().set(key, 0)
        dispatch.dispatch_due()
        run_jobs()
    assert len(via_sink.received) == 6
    assert set(via_sink.to_counts().values()) == {1}
    assert statuses() == {"sent": 6}
    db.session.expire_all()
    run = db.session.scalars(db.select(Run)).one()
    assert run.paused_until is None
    assert run.finished_at is not None


def test_a_days_count_lost_in_a_restart_starts_again_from_the_attempt_log(
    via_sink, mailing_for, sending_config, user, run_jobs
):
    """Redis restarted without its data (or, without Redis, the process restarted): the
    day's count started again from zero, and the provider's daily quota was sent twice."""
    sending_config(SEND_RATE_PER_DAY=5)
    mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    dispatch.dispatch_due()
    run_jobs()
    assert len(via_sink.received) == 3

    second = _restart_and_send_to_four(user, mailing_for, run_jobs)

    assert len(via_sink.received) == 5  # 2 more today, not 4
    assert progress.mailing_progress(second.id)["paused_until"] is not None


def _restart_and_send_to_four(user, mailing_for, run_jobs):
    """Lose the day's count as a restart does, then send a new mailing to four clients."""
    from mailer.redis_client import redis_connection

    if redis_connection() is not None:
        redis_connection().flushdb()  # what a restart without persistence leaves
    ratelimit.reset_local_counters()  # what a restarted process starts with
    second = mailing_for()
    add_clients(user, second, 4)
    dispatch.dispatch_due()
    run_jobs()
    return second


def test_a_lost_count_made_anew_holds_the_deleted_mailings_and_test_emails_of_the_day(
    via_sink, mailing_for, sending_config, user, run_jobs, login
):
    """The attempt log does not hold them: without their count, deleting a mailing and
    restarting let the provider's daily quota be exceeded."""
    from tests import factories

    sending_config(SEND_RATE_PER_DAY=6)
    first = mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    dispatch.dispatch_due()
    run_jobs()
    message = factories.make_message(user, "Hi")
    browser = login(user)
    assert browser.post(f"/messages/{message.id}/test").status_code == 302
    assert browser.post(f"/mailings/{first.id}/delete").status_code == 302
    assert len(via_sink.received) == 4

    _restart_and_send_to_four(user, mailing_for, run_jobs)

    assert len(via_sink.received) == 6  # 2 more today, not 4


def test_a_batch_ending_after_the_restart_gives_nothing_back_to_a_lost_count(redis_conn):
    """Its unused sends would have made a negative count, which no restart would be seen in."""
    limiter = RateLimiter(per_second=0, per_day=1_000_000, redis=redis_conn)
    limiter.acquire()
    redis_conn.flushdb()
    limiter.release()
    assert _counted(redis_conn, "day") == {}


def _counted(redis_conn, kind: str) -> dict[str, int]:
    return {
        key.decode(): int(redis_conn.get(key))
        for key in redis_conn.scan_iter(f"mailer:rate:{kind}:*")
    }


def test_generous_budget_is_granted_in_blocks_and_unused_sends_go_back(redis_conn):
    redis_conn.flushdb()
    limiter = RateLimiter(per_second=0, per_day=1_000_000, redis=redis_conn)
    for _ in range(10):
        limiter.acquire()
    assert list(_counted(redis_conn, "day").values()) == [GRANT_BLOCK]  # one round trip
    limiter.release()
    assert list(_counted(redis_conn, "day").values()) == [10]


def test_tight_budget_is_asked_one_send_at_a_time(redis_conn):
    redis_conn.flushdb()
    limiter = RateLimiter(per_second=5, per_day=450, redis=redis_conn)
    limiter.acquire()
    limiter.acquire()
    assert list(_counted(redis_conn, "day").values()) == [2]
    limiter.release()
    assert list(_counted(redis_conn, "day").values()) == [2]


def test_sends_granted_in_a_second_lapse_with_it(redis_conn):
    import time

    redis_conn.flushdb()
    limiter = RateLimiter(per_second=1000, per_day=0, redis=redis_conn)
    limiter.acquire()
    limiter._granted_until = time.monotonic() - 1  # that second is over
    limiter.acquire()
    assert sum(_counted(redis_conn, "second").values()) == 2 * GRANT_BLOCK


def test_a_daily_budget_alone_keeps_its_block_across_seconds(redis_conn):
    import time

    redis_conn.flushdb()
    limiter = RateLimiter(per_second=0, per_day=1_000_000, redis=redis_conn)
    limiter.acquire()
    limiter._granted_until = time.monotonic() - 1  # no per-second limit: seconds do not matter
    limiter.acquire()
    assert list(_counted(redis_conn, "day").values()) == [GRANT_BLOCK]


def test_a_lapsed_block_gives_the_days_share_back(redis_conn):
    import time

    redis_conn.flushdb()
    limiter = RateLimiter(per_second=1000, per_day=1_000_000, redis=redis_conn)
    limiter.acquire()
    limiter._granted_until = time.monotonic() - 1
    limiter.acquire()  # 24 unused go back to the day, a new block is taken
    assert list(_counted(redis_conn, "day").values()) == [1 + GRANT_BLOCK]
    limiter.release()
    assert list(_counted(redis_conn, "day").values()) == [2]


def test_blocks_never_exceed_the_shared_per_second_budget(redis_conn):
    redis_conn.flushdb()
    limiters = [RateLimiter(per_second=250, per_day=0, redis=redis_conn) for _ in range(2)]
    assert {limiter.block for limiter in limiters} == {GRANT_BLOCK}
    for n in range(300):
        limiters[n % 2].acquire()
    counted = _counted(redis_conn, "second")
    assert max(counted.values()) <= 250
    assert sum(counted.values()) >= 300


def test_waiting_for_the_per_second_limit_holds_no_database_lock(
    app, via_sink, mailing_for, sending_config, user, monkeypatch
):
    """SQLite has one write lock: a sender holding it while it waits for its budget made
    every page that writes (a client, a message, the mailing's clients) fail after the
    busy timeout, for as long as a rate-limited run lasted. PostgreSQL locks rows only."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    sending_config(SEND_RATE_PER_SECOND=1, SEND_BATCH_SIZE=3)
    mailing = mailing_for()
    add_clients(user, mailing, 3)
    path = db.engine.url.database
    writable_while_waiting = []

    def sleep_after_writing(seconds: float) -> None:
        # What a page would do while the sender waits: write, giving up at once if locked.
        with contextlib.closing(sqlite3.connect(path, timeout=0.05)) as other:
            try:
                other.execute("UPDATE clients SET comment = comment WHERE id = 0")
                other.commit()
                writable_while_waiting.append(True)
            except sqlite3.OperationalError:  # "database is locked"
                writable_while_waiting.append(False)
        real_sleep(seconds)

    real_sleep = time.sleep
    monkeypatch.setattr(ratelimit.time, "sleep", sleep_after_writing)
    run_id = dispatch.start_forced_run(mailing.id)
    for batch in dispatch.run_batches(run_id):
        sender.send_batch(run_id, batch)

    assert len(via_sink.received) == 3
    assert writable_while_waiting  # it did wait
    assert all(writable_while_waiting)
