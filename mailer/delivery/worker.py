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
"""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker, Worker

from mailer.delivery import jobs, sender
from mailer.extensions import db
from mailer.redis_client import redis_connection


class MailerWorker(SimpleWorker):
    def handle_warm_shutdown_request(self):
        """Asked to stop (SIGTERM, Ctrl-C) during a send: the batch stops at its next chunk
        and hands the rest back to the queue (sender.HAND_BACK), so the worker ends within
        about a second, its emails all settled."""
        sender.HAND_BACK.set()
        super().handle_warm_shutdown_request()


class ForkingWorker(Worker):
    def fork_work_horse(self, job, queue):
        db.engine.dispose()  # connections must not cross a fork
        return super().fork_work_horse(job, queue)


def run_worker(app: Flask, *, burst: bool = False, fork: bool = False) -> bool:
    jobs.set_process_app(app)
    connection = redis_connection()
    worker_class = ForkingWorker if fork else MailerWorker
    worker = worker_class(jobs.worker_queues(app, connection), connection=connection)
    return worker.work(burst=burst, with_scheduler=False)
