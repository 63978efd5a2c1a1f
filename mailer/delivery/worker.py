"""`flask worker`: an RQ worker on the mailer queue.

The app is created once per worker process; each job runs in a fresh app
context of it. The forking worker disposes of the database pool before each
fork, so a work horse never shares a connection with its parent.
"""

from __future__ import annotations

from flask import Flask
from rq import Queue, SimpleWorker, Worker

from mailer.delivery import jobs
from mailer.extensions import db
from mailer.redis_client import redis_connection


class MailerWorker(Worker):
    def fork_work_horse(self, job, queue):
        db.engine.dispose()  # connections must not cross a fork
        return super().fork_work_horse(job, queue)


def run_worker(app: Flask, *, burst: bool = False, simple: bool = False) -> bool:
    jobs.set_process_app(app)
    connection = redis_connection()
    queue = Queue(app.config["RQ_QUEUE"], connection=connection)
    worker_class = SimpleWorker if simple else MailerWorker
    worker = worker_class([queue], connection=connection)
    return worker.work(burst=burst, with_scheduler=False)
