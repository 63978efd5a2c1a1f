"""What ticks every minute: rq-scheduler with Redis, a plain loop in the embedded default.

With Redis, `flask start-scheduler` registers the periodic jobs (`periodic_jobs`)
with rq-scheduler and runs its loop; they go to a queue of their own, which
workers empty before the send batches' (jobs.periodic_queue_name). Registration is
idempotent: each job's id is derived from its definition, ids no longer
defined are cancelled and only missing ones are added, so starting the
scheduler twice (or on two machines) leaves one of each. rq-scheduler's lock
(`rq:scheduler_lock`) keeps one scheduler active; a second one waits.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from datetime import UTC, datetime
from typing import NamedTuple

from flask import Flask, current_app
from rq_scheduler import Scheduler
from werkzeug.utils import import_string

from mailer.delivery.jobs import periodic_queue_name
from mailer.outages import REDIS_DOWN

log = logging.getLogger(__name__)

ID_PREFIX = "mailer-periodic-"  # RQ ids: letters, digits, - and _
RETRY_SECONDS = 5  # while Redis is away, as RQ's worker waits 2 s between tries
FORGET_LOGINS_SECONDS = 3600  # how often the logins that ended by disuse are deleted
PRUNE_INTERVAL_SECONDS = 3600  # how often old attempts are deleted (ATTEMPT_RETENTION_DAYS)


class PeriodicJob(NamedTuple):
    func: str  # dotted path: the job's id must not change with the code's memory address
    interval_seconds: int
    queue: str

    @property
    def id(self) -> str:
        """From the whole definition: a job whose interval or queue changed is a new job,
        and the old one is cancelled."""
        definition = f"{self.func}|{self.interval_seconds}|{self.queue}"
        return f"{ID_PREFIX}{hashlib.sha256(definition.encode()).hexdigest()[:16]}"


def periodic_jobs(app: Flask) -> list[PeriodicJob]:
    queue = periodic_queue_name(app)
    jobs = [
        PeriodicJob(
            "mailer.delivery.jobs.dispatch_job", app.config["SCHEDULER_INTERVAL_SECONDS"], queue
        )
    ]
    if app.config["INBOX_SERVER"]:
        jobs.append(
            PeriodicJob(
                "mailer.delivery.jobs.read_inbox_job", app.config["INBOX_INTERVAL_SECONDS"], queue
            )
        )
    jobs.append(
        PeriodicJob("mailer.delivery.jobs.forget_ended_logins_job", FORGET_LOGINS_SECONDS, queue)
    )
    if app.config["ATTEMPT_RETENTION_DAYS"]:
        jobs.append(
            PeriodicJob("mailer.delivery.jobs.prune_attempts_job", PRUNE_INTERVAL_SECONDS, queue)
        )
    return jobs


class MailerScheduler(Scheduler):
    """rq-scheduler that keeps the app's periodic jobs registered, and remembers it was
    asked to stop (SIGTERM, Ctrl-C), so that run_rq_scheduler does not take the Redis
    error of its tidying up for an outage."""

    app: Flask
    stopping = False

    def enqueue_jobs(self):
        """Each pass (under the lock) first registers the periodic jobs again if they are
        gone: a Redis restarted without its data has none, and redis-py reconnects without
        a word, so the loop would go on and nothing would dispatch again."""
        if not all(job.id in self for job in periodic_jobs(self.app)):
            log.warning("the periodic jobs are gone from Redis (restarted without its data?)")
            register_periodic_jobs(self.app, self)
        return super().enqueue_jobs()

    def _install_signal_handlers(self):
        super()._install_signal_handlers()
        theirs = signal.getsignal(signal.SIGTERM)

        def stop(signum, frame):
            self.stopping = True
            theirs(signum, frame)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)


def make_scheduler(app: Flask, connection, interval: int = 10) -> MailerScheduler:
    scheduler = MailerScheduler(
        queue_name=app.config["RQ_QUEUE"], connection=connection, interval=interval
    )
    scheduler.app = app
    return scheduler


def register_periodic_jobs(app: Flask, scheduler) -> list[str]:
    """Make rq-scheduler hold exactly our periodic jobs; returns their ids."""
    wanted = {job.id: job for job in periodic_jobs(app)}
    existing = {job.id: job for job in scheduler.get_jobs() if job.id.startswith(ID_PREFIX)}
    for job_id, job in existing.items():
        if job_id not in wanted:
            log.info("cancelling periodic job %s, no longer defined", job_id)
            scheduler.cancel(job)
    for job_id, job in wanted.items():
        if job_id in existing:
            continue
        scheduler.schedule(
            scheduled_time=datetime.now(UTC),
            func=job.func,
            interval=job.interval_seconds,
            repeat=None,
            id=job_id,
            queue_name=job.queue,
            result_ttl=job.interval_seconds * 10,
            timeout=job.interval_seconds * 5,
        )
        log.info("registered periodic job %s: %s every %ss", job_id, job.func, job.interval_seconds)
    return sorted(wanted)


def run_rq_scheduler(app: Flask, *, burst: bool = False) -> None:
    """Register the periodic jobs and run rq-scheduler's loop (one at a time, by its lock);
    while Redis is unreachable, try again every RETRY_SECONDS."""
    from mailer.redis_client import redis_connection

    connection = redis_connection()
    scheduler = make_scheduler(app, connection)
    while True:
        try:
            register_periodic_jobs(app, scheduler)
            scheduler.run(burst=burst)
            return
        except REDIS_DOWN as error:
            # A Redis restart must not end the scheduler: nothing would dispatch after it.
            if burst or scheduler.stopping:
                raise
            log.warning(
                "Redis unreachable, the scheduler tries again in %ss: %s", RETRY_SECONDS, error
            )
        time.sleep(RETRY_SECONDS)


def run_embedded(app: Flask, stop: threading.Event) -> None:
    """Run the periodic jobs rq-scheduler would (`periodic_jobs`: dispatch, the inbox's
    reading when INBOX_SERVER is set, forgetting ended logins, deleting old attempts when
    ATTEMPT_RETENTION_DAYS is set), each at its interval, in-process, until `stop` is set.

    Dispatch also puts due retries and stalled deliveries back on the queue.
    """
    tasks = [
        (job.func.rsplit(".", 1)[1], import_string(job.func), job.interval_seconds)
        for job in periodic_jobs(app)
    ]
    log.info(
        "embedded scheduler started: %s",
        ", ".join(f"{name} every {interval}s" for name, _, interval in tasks),
    )
    due = [time.monotonic()] * len(tasks)
    while not stop.is_set():
        for index, (name, task, interval) in enumerate(tasks):
            if time.monotonic() < due[index]:
                continue
            with app.app_context():
                try:
                    task()
                except Exception:
                    log.exception("%s failed; trying again at the next tick", name)
            due[index] = time.monotonic() + interval
        stop.wait(max(min(due) - time.monotonic(), 0))


def current_queue_name() -> str:
    return current_app.config["RQ_QUEUE"]
