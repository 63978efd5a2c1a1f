"""Running, in a test, the jobs the app enqueued."""

from __future__ import annotations

from flask import Flask

from mailer.delivery import jobs
from mailer.redis_client import redis_connection


def run_queued_jobs(app: Flask) -> None:
    """Run what was enqueued: a real RQ SimpleWorker in burst mode with Redis; nothing
    without (the jobs then ran when they were enqueued, as the tests' app runs them)."""
    connection = redis_connection()
    if connection is None:
        return
    from rq import SimpleWorker

    queues = jobs.worker_queues(app, connection)
    SimpleWorker(queues, connection=connection).work(burst=True, with_scheduler=False)
