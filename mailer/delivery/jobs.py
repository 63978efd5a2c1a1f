"""Background jobs: thin entry points, and `enqueue` that runs them in-process without Redis.

With REDIS_URL a job goes to the RQ queue RQ_QUEUE and an RQ worker runs
it; the periodic jobs (dispatch, the inbox's reading, forgetting ended
logins) go to a queue of their own that workers empty first, and the
client imports to one they empty next (`worker_queues`). Without Redis (the
embedded default) it runs in this process: at once when testing or with
JOBS_SYNCHRONOUS, else on one background thread (so the request or command
that enqueued it returns at once), an import on a second one.

Jobs get ids, never rows: a worker loads what it needs in its own app
context. They do not retry by raising: a temporary SMTP failure is stored
on the delivery as "retry" with its time, and the next dispatch tick
enqueues it again, so retries survive a restart of Redis or of the workers.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

from mailer import outages
from mailer.redis_client import redis_connection

log = logging.getLogger(__name__)

RESULT_TTL = 600  # seconds RQ keeps a finished job's result
FAILURE_TTL = 7 * 86400
JOB_TIMEOUT = 3600  # a batch under a tight per-second rate limit takes long
# A run's send batches are RQ jobs "mailer-run-<run id>-<uuid>": the queue tells which runs
# wait (`runs_queued`). RQ ids: letters, digits, - and _.
RUN_JOB_PREFIX = "mailer-run-"
_IN_PROCESS_QUEUE = "mailer_jobs"  # its key in app.extensions

_process_app: Flask | None = None


def periodic_queue_name(app: Flask) -> str:
    """The periodic jobs' queue. A worker takes its jobs before the send batches', so a
    backlog of batches (a large run under a tight rate limit lasts hours) holds dispatch up
    by one batch at most: a mailing due meanwhile starts on time."""
    return f"{app.config['RQ_QUEUE']}-periodic"


def imports_queue_name(app: Flask) -> str:
    """The client imports' queue. A worker takes its jobs before the send batches', so an
    import does not wait behind a backlog of them (hours, under a tight rate limit)."""
    return f"{app.config['RQ_QUEUE']}-imports"


def worker_queues(app: Flask, connection) -> list:
    """The queues a worker listens to, in the order it takes their jobs."""
    from rq import Queue

    names = (periodic_queue_name(app), imports_queue_name(app), app.config["RQ_QUEUE"])
    return [Queue(name, connection=connection) for name in names]


def enqueue(func: Callable, *args, run_id: int | None = None, imports: bool = False) -> None:
    """Run `func(*args)` in the background: on RQ with Redis, in-process without.
    A job of run `run_id` counts in `runs_queued` until it starts. An import's job
    (`imports`) goes to the imports' queue, or without Redis to a thread of its own."""
    connection = redis_connection()
    if connection is not None:
        from rq import Queue

        app = current_app._get_current_object()
        name = imports_queue_name(app) if imports else app.config["RQ_QUEUE"]
        queue = Queue(name, connection=connection)
        queue.enqueue(
            func,
            *args,
            job_id=None if run_id is None else f"{RUN_JOB_PREFIX}{run_id}-{uuid.uuid4().hex}",
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            job_timeout=JOB_TIMEOUT,
        )
        return
    app = current_app._get_current_object()
    if app.testing or app.config.get("JOBS_SYNCHRONOUS"):
        func(*args)
        return
    _in_process_queue(app, "imports" if imports else "").submit(func, args, run_id)


@contextmanager
def synchronously(app: Flask):
    """Without Redis, the jobs enqueued meanwhile run at once, in this thread."""
    before = app.config["JOBS_SYNCHRONOUS"]
    app.config["JOBS_SYNCHRONOUS"] = True
    try:
        yield
    finally:
        app.config["JOBS_SYNCHRONOUS"] = before


def runs_queued() -> set[int]:
    """The runs with a job waiting in the queue, not yet started. Their deliveries are
    waiting their turn, not lost, however long the queue (a backlog under a tight rate
    limit): dispatch leaves them alone (`dispatch.requeue_waiting`)."""
    connection = redis_connection()
    if connection is None:
        queue = current_app.extensions.get(_in_process_key(""))
        return queue.runs() if queue is not None else set()
    from rq import Queue

    queue = Queue(current_app.config["RQ_QUEUE"], connection=connection)
    return _run_ids(queue.get_job_ids())


def runs_running() -> set[int] | None:
    """The runs a worker is sending a batch of right now (RQ's started jobs); None without
    Redis, where each process's queue knows only its own jobs. A run of unfinished
    deliveries that is neither queued nor running has lost its jobs (Redis restarted, or
    went away between the run's commit and its enqueue): `dispatch.requeue_waiting` puts
    it back on the queue within a minute, not after SEND_STALL_SECONDS."""
    connection = redis_connection()
    if connection is None:
        return None
    from rq.registry import StartedJobRegistry

    registry = StartedJobRegistry(current_app.config["RQ_QUEUE"], connection=connection)
    return _run_ids(registry.get_job_ids(cleanup=False))


def _run_ids(job_ids: list[str]) -> set[int]:
    return {
        int(job_id.removeprefix(RUN_JOB_PREFIX).split("-")[0])
        for job_id in job_ids
        if job_id.startswith(RUN_JOB_PREFIX)
    }


class _InProcessQueue:
    """The embedded default's queue: one thread, so batches go one after another, as on
    one worker; it counts the jobs of each run from submission to start. Its jobs run in
    its app's context."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailer-job")
        self.lock = threading.Lock()
        self.waiting: Counter[int] = Counter()

    def submit(self, func: Callable, args: tuple, run_id: int | None) -> None:
        if run_id is not None:
            with self.lock:
                self.waiting[run_id] += 1
        self.pool.submit(self._run, func, args, run_id)

    def runs(self) -> set[int]:
        with self.lock:
            return set(self.waiting)

    def _run(self, func: Callable, args: tuple, run_id: int | None) -> None:
        if run_id is not None:
            with self.lock:
                self.waiting[run_id] -= 1
                if not self.waiting[run_id]:
                    del self.waiting[run_id]
        try:
            with self.app.app_context():
                func(*args)
        except Exception:
            log.exception("background job %s failed", func.__name__)


def _in_process_key(name: str) -> str:
    return f"{_IN_PROCESS_QUEUE}-{name}" if name else _IN_PROCESS_QUEUE


def _in_process_queue(app: Flask, name: str) -> _InProcessQueue:
    """The in-process queue `name` ("": the send batches'), each a thread of its own."""
    queue = app.extensions.get(_in_process_key(name))
    if queue is None:
        queue = app.extensions[_in_process_key(name)] = _InProcessQueue(app)
    return queue


def set_process_app(app: Flask) -> None:
    """The app jobs of this process use (a worker creates it once, before forking)."""
    global _process_app
    _process_app = app


@contextmanager
def job_context():
    """A fresh app context (and so a fresh database session) for one job."""
    global _process_app
    if _process_app is None:
        if has_app_context():
            _process_app = current_app._get_current_object()
        else:
            from mailer import create_app

            _process_app = create_app()
    app = current_app._get_current_object() if has_app_context() else _process_app
    with app.app_context():
        yield app


@contextmanager
def _database_outage_logged(what: str):
    """A job the database went away under says so in one line, not a traceback: what it
    left is taken up again once the database is back (the next tick; a batch's rest by
    dispatch's lost-job sweep, its email in flight as unknown). Other errors go on up."""
    try:
        yield
    except Exception as error:
        if outages.unreachable(error) != "database":
            raise
        log.warning("%s: database unreachable: %s", what, outages.reason(error))


# -- the jobs ------------------------------------------------------------------


def dispatch_job() -> int:
    """Every minute (rq-scheduler or the embedded loop): dispatch due mailings."""
    from mailer.delivery import dispatch

    with job_context(), _database_outage_logged("dispatch skipped"):
        return dispatch.dispatch_due()
    return 0


def forget_ended_logins_job() -> int:
    """Every hour: delete the logins that ended by disuse (auth/sessions.py)."""
    from mailer.auth import sessions
    from mailer.extensions import db

    with job_context():
        forgotten = sessions.forget_ended()
        db.session.commit()
        if forgotten:
            log.info("forgot %d login(s) unused for longer than a login lasts", forgotten)
        return forgotten


def prune_attempts_job() -> int:
    """Every hour when ATTEMPT_RETENTION_DAYS is set: delete the older attempts. The
    setting read is this worker's: one without it (or with 0) keeps them all, whatever
    the scheduler that queued the job has."""
    from mailer.delivery import retention
    from mailer.models import utcnow

    with job_context() as app:
        days = app.config["ATTEMPT_RETENTION_DAYS"]
        if days < 1:
            log.warning(
                "attempts not pruned: ATTEMPT_RETENTION_DAYS is not set on this worker"
                " (the scheduler that queued the job has it): set it on both alike"
            )
            return 0
        pruned = retention.prune_attempts(now=utcnow(), days=days)
        if pruned:
            log.info("deleted %d attempt(s) older than %d day(s)", pruned, days)
        return pruned


def send_batch_job(run_id: int, delivery_ids: list[int]) -> dict:
    """Send one batch; temporary failures are left as "retry" for the next tick."""
    from mailer.delivery import sender

    stopped = f"run {run_id}: batch of {len(delivery_ids)} stopped"
    with job_context(), _database_outage_logged(stopped):
        result = sender.send_batch(run_id, delivery_ids)
        level = logging.WARNING if result.held_up else logging.INFO
        log.log(level, "run %s: batch of %s done: %s", run_id, len(delivery_ids), result)
        if result.handed_back:  # this worker is stopping: another one (or it, restarted) goes on
            _hand_back(run_id, result.handed_back)
        return {"sent": result.sent, "failed": result.failed, "retry": result.retry}
    return {"error": "database unreachable"}


def _hand_back(run_id: int, delivery_ids: list[int]) -> None:
    try:
        enqueue(send_batch_job, run_id, delivery_ids, run_id=run_id)
    except outages.REDIS_DOWN as error:
        log.warning(
            "run %s: %s left waiting, not handed back (Redis unreachable: %s); the dispatch"
            " puts them back on the queue once Redis is back",
            run_id,
            len(delivery_ids),
            outages.reason(error),
        )
        return
    log.info("run %s: %s handed back to the queue", run_id, len(delivery_ids))


def read_inbox_job() -> dict:
    """Every INBOX_INTERVAL_SECONDS when INBOX_SERVER is set: act on the mailto unsubscribes
    and bounce reports in the sending account's mailbox. A mailbox that cannot be read is
    one line in the log, and the next tick tries again."""
    from mailer.delivery import inbox

    with job_context():
        try:
            return inbox.read_inbox().as_dict()
        except inbox.InboxError as error:
            log.warning("inbox not read: %s", error)
            return {"error": str(error)}
