"""`flask worker`: an RQ worker on the mailer queues (the periodic jobs' first).

The app is created once per worker process; each job runs in a fresh app
context of it. By default jobs run in the worker process itself, one after
another (RQ's SimpleWorker): a send job is our own trusted code that lasts
well under a second per thousand emails, and forking a work horse for each
one cost ~50 ms and a new PostgreSQL connection (and the ledger's prepared
statements) per job, a fifth of one worker's time at 1,000 emails a job.

`--fork` runs each job in a forked work horse instead (RQ's default Worker),
for isolation; the forking worker disposes of the database pool before each
fork, so a work horse never shares a connection with its parent.

Either outlives a Redis outage, idle or not: RQ waits one out while it waits
for a job, and `OutageProof` while it writes what became of one (a batch sends
on without Redis; it is its result that cannot be written).
"""

from __future__ import annotations

import logging
import signal
import time

from flask import Flask
from rq import SimpleWorker, Worker

from mailer import outages
from mailer.delivery import jobs, sender
from mailer.extensions import db
from mailer.redis_client import redis_connection

log = logging.getLogger(__name__)

RETRY_SECONDS = 2  # between tries while Redis is away, as RQ's own waits


class OutageProof:
    """A worker that goes on after a job whose end it could not write to Redis (RQ's own
    loop quits on it, and under honcho every process stops with it). The job's work is
    done or settled in the database; RQ's registries forget the job later, and what it
    left unsent goes back on the queue (dispatch's lost-job sweep)."""

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except outages.REDIS_DOWN as error:
            log.warning(
                "job %s ended while Redis was unreachable (%s): the worker goes on once it is back",
                job.id,
                outages.reason(error),
            )
            self._wait_for_redis()

    def _wait_for_redis(self) -> None:
        while not self._stop_requested:
            try:
                self.connection.ping()
                return
            except outages.REDIS_DOWN:
                time.sleep(RETRY_SECONDS)


class MailerWorker(OutageProof, SimpleWorker):
    def handle_warm_shutdown_request(self):
        """Asked to stop (SIGTERM, Ctrl-C) during a send: the batch stops at its next chunk
        and hands the rest back to the queue (sender.HAND_BACK), so the worker ends within
        about a second, its emails all settled."""
        sender.HAND_BACK.set()
        super().handle_warm_shutdown_request()


class ForkingWorker(OutageProof, Worker):
    def fork_work_horse(self, job, queue):
        db.engine.dispose()  # connections must not cross a fork
        return super().fork_work_horse(job, queue)

    def setup_work_horse_signals(self):
        """A SIGTERM of the work horse's own (a service manager's stop reaches every process
        of the service: systemd's KillMode=control-group) hands the rest of its batch back,
        as MailerWorker's stop does. RQ's horse died of it, its email in flight "unknown"."""
        super().setup_work_horse_signals()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: sender.HAND_BACK.set())


def run_worker(app: Flask, *, burst: bool = False, fork: bool = False) -> bool:
    jobs.set_process_app(app)
    connection = redis_connection()
    worker_class = ForkingWorker if fork else MailerWorker
    worker = worker_class(jobs.worker_queues(app, connection), connection=connection)
    return worker.work(burst=burst, with_scheduler=False)
