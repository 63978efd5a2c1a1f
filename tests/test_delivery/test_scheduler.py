"""rq-scheduler registration is idempotent; its loop enqueues dispatch, which a worker runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from mailer.delivery import dispatch, jobs, scheduler
from mailer.extensions import db
from mailer.models import Run
from tests.test_delivery.conftest import statuses


def _our_jobs(rq_scheduler) -> list[str]:
    return [job.id for job in rq_scheduler.get_jobs() if job.id.startswith(scheduler.ID_PREFIX)]


def test_starting_the_scheduler_twice_registers_each_periodic_job_once(app, redis_conn):
    first = scheduler.make_scheduler(app, redis_conn)
    second = scheduler.make_scheduler(app, redis_conn)
    scheduler.register_periodic_jobs(app, first)
    scheduler.register_periodic_jobs(app, second)
    ours = [job for job in first.get_jobs() if job.id.startswith(scheduler.ID_PREFIX)]
    assert sorted(job.func_name for job in ours) == [
        "mailer.delivery.jobs.dispatch_job",
        "mailer.delivery.jobs.forget_ended_logins_job",
    ]
    [dispatching] = [job for job in ours if job.func_name.endswith("dispatch_job")]
    assert dispatching.meta["interval"] == app.config["SCHEDULER_INTERVAL_SECONDS"]
    assert {job.origin for job in ours} == {jobs.periodic_queue_name(app)}


def test_a_job_registered_on_the_send_queue_moves_to_the_periodic_queue(app, redis_conn):
    """A scheduler of the version before queued dispatch behind the send batches."""
    rq_scheduler = scheduler.make_scheduler(app, redis_conn)
    dispatching = scheduler.periodic_jobs(app)[0]
    before = dispatching._replace(queue=app.config["RQ_QUEUE"])
    rq_scheduler.schedule(
        scheduled_time=datetime.now(UTC),
        func=before.func,
        interval=before.interval_seconds,
        id=before.id,
        queue_name=before.queue,
    )
    scheduler.register_periodic_jobs(app, rq_scheduler)
    [job] = [job for job in rq_scheduler.get_jobs() if job.func_name == dispatching.func]
    assert job.origin == jobs.periodic_queue_name(app)


def test_a_job_no_longer_defined_is_cancelled(app, redis_conn, monkeypatch):
    rq_scheduler = scheduler.make_scheduler(app, redis_conn)
    monkeypatch.setitem(app.config, "SCHEDULER_INTERVAL_SECONDS", 30)
    before = set(scheduler.register_periodic_jobs(app, rq_scheduler))
    monkeypatch.setitem(app.config, "SCHEDULER_INTERVAL_SECONDS", 60)
    after = set(scheduler.register_periodic_jobs(app, rq_scheduler))
    assert len(before - after) == len(after - before) == 1  # dispatch's; the rest stay
    assert set(_our_jobs(rq_scheduler)) == after


def test_the_loop_registers_the_periodic_jobs_again_after_redis_lost_its_data(
    app, redis_conn, via_sink, mailing_for, run_jobs, caplog
):
    """Redis restarted without its data while the scheduler ran: redis-py reconnected
    without a word, the loop went on, and nothing was ever dispatched again."""
    rq_scheduler = scheduler.make_scheduler(app, redis_conn)
    registered = scheduler.register_periodic_jobs(app, rq_scheduler)
    redis_conn.flushdb()  # what the restart left
    mailing_for("ann@example.com")
    caplog.set_level("WARNING", logger="mailer.delivery.scheduler")

    rq_scheduler.run(burst=True)  # the loop's next pass

    assert sorted(_our_jobs(rq_scheduler)) == registered
    assert "the periodic jobs are gone from Redis" in caplog.text
    run_jobs()  # the dispatch job that pass enqueued, then its batches
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}


def test_scheduler_loop_enqueues_dispatch_that_a_worker_runs(
    app, redis_conn, via_sink, mailing_for, run_jobs
):
    mailing_for("ann@example.com")
    scheduler.run_rq_scheduler(app, burst=True)
    run_jobs()  # the dispatch job, then the batches it enqueued
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}
    assert statuses() == {"sent": 1}


def test_dispatch_goes_before_a_backlog_of_batches(
    app, redis_conn, via_sink, mailing_for, sending_config, run_jobs
):
    """A large run under a tight rate limit keeps its batches on the queue for hours; a
    mailing due meanwhile starts at its time, not behind them."""
    sending_config(SEND_BATCH_SIZE=1)
    mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    dispatch.dispatch_due()  # three batches wait on the queue
    later = mailing_for("dan@example.com")
    scheduler.run_rq_scheduler(app, burst=True)  # dispatch's tick, behind them
    worker = SimpleWorker(jobs.worker_queues(app, redis_conn), connection=redis_conn)
    ticked = len(scheduler.periodic_jobs(app))  # dispatch and the other periodic jobs
    worker.work(burst=True, max_jobs=ticked, with_scheduler=False)
    assert db.session.scalar(select(Run.id).where(Run.mailing_id == later.id)) is not None
    assert via_sink.received == []  # no batch ran before dispatch
    run_jobs()
    assert via_sink.to_counts() == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
        "dan@example.com": 1,
    }


def test_embedded_loop_dispatches_until_stopped(app, via_sink, mailing_for, monkeypatch):
    import threading

    if app.config["REDIS_URL"]:
        pytest.skip("the embedded loop is what runs without Redis")
    monkeypatch.setitem(app.config, "JOBS_SYNCHRONOUS", True)
    mailing_for("ann@example.com")
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_embedded, args=(app, stop))
    thread.start()
    try:
        from tests.waiting import wait_for

        assert wait_for(lambda: via_sink.to_counts() == {"ann@example.com": 1})
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_the_scheduler_outlives_a_redis_outage(app, redis_conn, monkeypatch, caplog):
    """A Redis restart used to end `flask start-scheduler`, and nothing dispatched after it
    (under honcho, the whole Procfile stopped with it)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    runs = []

    def run(self, burst=False):
        runs.append(burst)
        if len(runs) == 1:
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )

    monkeypatch.setattr(scheduler.MailerScheduler, "run", run)
    monkeypatch.setattr(scheduler, "RETRY_SECONDS", 0)
    caplog.set_level("WARNING", logger="mailer.delivery.scheduler")
    scheduler.run_rq_scheduler(app)
    assert len(runs) == 2
    assert "Redis unreachable, the scheduler tries again in 0s: Error 111" in caplog.text


def test_a_scheduler_asked_to_stop_during_an_outage_stops(app, redis_conn, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def run(self, burst=False):
        self.stopping = True  # SIGTERM; its tidying up in Redis then failed
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(scheduler.MailerScheduler, "run", run)
    with pytest.raises(RedisConnectionError):
        scheduler.run_rq_scheduler(app)
