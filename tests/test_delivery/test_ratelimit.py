"""The SMTP account's rate limit: shared by all workers; a spent day pauses until tomorrow."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

from mailer.delivery import dispatch, progress
from mailer.delivery.ratelimit import RateLimiter
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
            for key in redis_connection().scan_iter("mailer:rate:*"):
                redis_connection().delete(key)
        dispatch.dispatch_due()
        run_jobs()
    assert len(via_sink.received) == 6
    assert set(via_sink.to_counts().values()) == {1}
    assert statuses() == {"sent": 6}
    db.session.expire_all()
    run = db.session.scalars(db.select(Run)).one()
    assert run.paused_until is None
    assert run.finished_at is not None
