"""A confirmed import runs as a background job: an RQ worker with Redis, this process's
job thread without. The owner's page follows it by its heartbeat and shows its report.

The job is the import's entry point (as delivery/jobs.py holds sending's): here
because it calls the import, which belongs to the mailings blueprint, and
delivery/ never imports a blueprint.

- A worker claims a queued import with a conditional UPDATE (queued -> running,
  `tries` + 1): a job that runs twice imports once.
- The import and the row's report are one transaction: a worker killed
  mid-import imports nothing. Its import stays "running" with a silent
  heartbeat; the page then offers to import it again, which queues it with
  its claim spent: the old worker, were it only slow, finds its `tries`
  changed at the end and rolls back.
- While it runs, a thread writes how many rows it has read, with the time,
  every HEARTBEAT_SECONDS: to Redis when configured (the page may be served
  by another machine), else to this process's memory (the job runs in the
  process that serves the page).
- A queued import no worker has started for UNSTARTED_SECONDS (none runs,
  or its job went with Redis's data) may be handed to a worker again: the
  claim lets only one of its jobs import.
- A queued or lost import may be cancelled: its row goes, so no job finds it
  to claim, and a slow worker's end finds its claim gone. A running one is
  asked to stop (through Redis, or this process's memory): its heartbeat
  hears it, and the import rolls back and removes its row.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from mailer import outages
from mailer.delivery import jobs
from mailer.extensions import db
from mailer.mailings import mailing_queries
from mailer.mailings.client_import import (
    ImportReport,
    UnreadableFile,
    as_csv,
    import_rows,
    read_rows,
    refresh_statistics,
)
from mailer.main.stats import counts_changed
from mailer.models import ClientImport, utcnow
from mailer.redis_client import redis_connection

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2
# A running import not heard from for this long has lost its worker (killed, restarted).
SILENT_SECONDS = 60
# A queued import no worker has started for this long may be offered to one again.
UNSTARTED_SECONDS = 300
# Cancelling a running import waits this long to see it stop (its heartbeat hears it).
STOP_WAIT_SECONDS = 3 * HEARTBEAT_SECONDS
_KEY = "mailer:client-import:{}"
_STOP_KEY = "mailer:client-import:{}:stop"  # holds the run (`_run_of`) to stop


class Beat(NamedTuple):
    rows: int  # read so far
    at: float  # time.time() of the beat


_beats_here: dict[int, Beat] = {}  # the embedded default's heartbeats
_stops_here: dict[int, str] = {}  # and the runs of imports asked to stop, by import id


class ImportCancelled(Exception):
    """Its owner cancelled the import while it ran."""


def queue(
    upload: ClientImport,
    *,
    sheet: int | None,
    columns: dict[str, int] | None,
    rows: int,
    mailing_ids: Iterable[int],
) -> bool:
    """Confirm a pending upload: queued for a worker with what the preview showed (its
    sheet, the columns it read, its count of rows) and the mailings the owner ticked; False
    when it is no longer pending (pressed twice, in two tabs). Flushes; the caller commits,
    then calls `start`."""
    return _change(
        upload.id,
        "pending",
        status="queued",
        queued_at=utcnow(),
        sheet=sheet,
        columns=columns,
        rows_expected=max(rows, 0),
        mailing_ids=sorted(mailing_ids),
        locale=str(get_locale() or "en"),
    )


def again(task: ClientImport) -> str | None:
    """Queue again an import whose worker was lost, or that no worker has started for
    UNSTARTED_SECONDS (its job lost with Redis's data, say: a second job is harmless, as
    only one can claim it). The status it had, to go back to if the queue cannot be
    reached; None when it moved on meanwhile (finished after all, or was queued again from
    another tab). Flushes; the caller commits, then calls `start`."""
    shown = progress(task)
    moved = shown["lost"] or shown["unstarted"]
    was = task.status
    if moved and _change(task.id, was, claim=task.tries, status="queued", queued_at=utcnow()):
        return was
    return None


def start(task: ClientImport) -> None:
    """Give the committed queued import to a worker."""
    jobs.enqueue(import_job, task.id, imports=True)


def unqueue(task: ClientImport, *, to: str) -> None:
    """Put back a queued import that no worker was given (the queue was unreachable), as
    it was before it was queued; flushes."""
    _change(task.id, "queued", status=to)


def cancel(task: ClientImport) -> bool:
    """Remove an import that nothing is importing: queued (a job that comes for it later
    finds nothing to claim) or lost (its worker, were it only slow, finds its claim gone at
    the end and rolls back). False when it started, ended or was queued again meanwhile.
    Flushes; the caller commits."""
    if not (task.status == "queued" or progress(task)["lost"]):
        return False
    removed = _remove(task.id, task.status, task.tries)
    if removed:
        Heartbeat(task.id).forget()
    return removed


def stop(task: ClientImport) -> str:
    """Cancel a running import: ask its worker to stop it (its heartbeat hears it within
    HEARTBEAT_SECONDS; it rolls back and removes the import), and wait up to
    STOP_WAIT_SECONDS to see. "stopped"; "ended" when it ended first (its report stays);
    "stopping" when it has not stopped yet."""
    import_id = task.id  # `task` is not read again: its row may go
    _ask_to_stop(import_id, _run_of(task))
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while True:
        db.session.rollback()  # a fresh read each time (SQLite reads a snapshot per transaction)
        status = db.session.scalar(select(ClientImport.status).where(ClientImport.id == import_id))
        if status is None:
            return "stopped"
        if status != "running":
            return "ended"
        if time.monotonic() > deadline:
            return "stopping"
        time.sleep(0.1)


def _remove(import_id: int, was: str, claim: int) -> bool:
    """Remove the import if it still has status `was` and claim number `claim`."""
    statement = delete(ClientImport.__table__).where(*_still(import_id, was, claim))
    return db.session.execute(statement).rowcount == 1


def import_job(import_id: int) -> None:
    """The job. On an RQ worker the import runs in a child process of its own: a million
    rows take some 700 MB at their peak, and the worker, which goes on to send batches,
    would keep a few hundred MB of it (measured: 94 MB before such an import, 230-385
    after). Without Redis it runs on the web process's job thread: no fork there, as a
    process with threads serving requests is not safe to fork."""
    with jobs.job_context():
        if redis_connection() is None or not hasattr(os, "fork"):
            run(import_id)
            return
        child = os.fork()
        if child == 0:  # pragma: no cover - the child leaves by os._exit
            _run_in_child(import_id)
        _pid, status = os.waitpid(child, 0)
        if status:
            log.error("client import %s: its process ended with status %s", import_id, status)


def _run_in_child(import_id: int) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the worker's own handlers are not ours
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = 1
    try:
        # A pool of its own: the parent's connections stay the parent's.
        db.engine.dispose(close=False)
        run(import_id)
        code = 0
    except BaseException:
        log.exception("client import %s failed", import_id)
    finally:
        logging.shutdown()
        os._exit(code)


def run(import_id: int) -> None:
    """Import a queued import's file, unless another job claimed it; its report, or why
    it failed, on its row."""
    task = _claim(import_id)
    if task is None:
        return
    heartbeat = Heartbeat(task.id, run=_run_of(task))
    try:
        with force_locale(task.locale):
            _run_claimed(task, heartbeat)
    finally:
        heartbeat.forget()  # once the row says how it ended: never seen silent before


def _run_claimed(task: ClientImport, heartbeat: Heartbeat) -> None:
    try:
        with heartbeat:
            report, joined = _import(task, heartbeat)
    except UnreadableFile as error:
        _fail(task, str(error))
        return
    except ImportCancelled:
        import_id, claim = task.id, task.tries  # read before its row goes
        db.session.rollback()
        _remove(import_id, "running", claim)
        db.session.commit()
        log.info("client import %s: cancelled by its owner while it ran; rolled back", import_id)
        return
    except Exception:
        log.exception("client import %s failed", task.id)
        _fail(task, _("Something went wrong on our side; it is logged."))
        return
    owner_id = task.owner_id  # read before _finish's commit expires it
    if not _finish(task, report, joined):
        db.session.rollback()  # claimed again meanwhile: that claim imports
        log.warning("client import %s: claimed again while it ran; rolled back", task.id)
        return
    db.session.commit()
    log.info(
        "client import %s: %d imported, %d lines not",
        task.id,
        report.imported,
        len(report.rejected),
    )
    refresh_statistics(report.imported)
    counts_changed(owner_id)


def _import(task: ClientImport, heartbeat: Heartbeat) -> tuple[ImportReport, int]:
    """The report, and how many mailings the clients it added joined."""
    data, _sheet = as_csv(task.data, task.sheet)
    mailing_ids = mailing_queries.owned_mailing_ids(task.owner, task.mailing_ids)
    rows = heartbeat.counted(read_rows(data, task.columns))
    report = import_rows(owner=task.owner, rows=rows, mailing_ids=mailing_ids)
    return report, len(mailing_ids) if report.imported else 0


def _run_of(task: ClientImport) -> str:
    """Which run of a running import: its claim, and when (SQLite may give a removed
    import's id to the next one)."""
    return f"{task.tries}@{task.started_at.isoformat()}"


def _claim(import_id: int) -> ClientImport | None:
    claimed = _change(
        import_id, "queued", status="running", started_at=utcnow(), tries=ClientImport.tries + 1
    )
    if not claimed:
        return None
    db.session.commit()
    return db.session.get(ClientImport, import_id)


def _finish(task: ClientImport, report: ImportReport, joined: int) -> bool:
    kept = report.rejected[: ClientImport.REJECTED_KEPT]
    return _change(
        task.id,
        "running",
        claim=task.tries,
        status="done",
        data=None,
        finished_at=utcnow(),
        imported=report.imported,
        unsubscribed=report.unsubscribed,
        bounced=report.bounced,
        marked=report.marked,
        joined=joined,
        rejected_count=len(report.rejected),
        rejected=[[line, email[: ClientImport.EMAIL_KEPT], why] for line, email, why in kept],
    )


def _fail(task: ClientImport, reason: str) -> None:
    claim = task.tries
    db.session.rollback()
    values = {"status": "failed", "data": None, "finished_at": utcnow(), "error": reason}
    if _change(task.id, "running", claim=claim, **values):
        log.warning("client import %s failed: %s", task.id, reason)
    db.session.commit()


def _change(import_id: int, was: str, *, claim: int | None = None, **values) -> bool:
    """Move import `import_id` on from status `was` (and from its claim number `claim`,
    when given) to `values`; whether it did."""
    statement = update(ClientImport.__table__).where(*_still(import_id, was, claim))
    return db.session.execute(statement.values(**values)).rowcount == 1


def _still(import_id: int, was: str, claim: int | None) -> list:
    """The conditions that import `import_id` still has status `was` (and claim number
    `claim`, when given): what `_change` and `_remove` act on, or nothing."""
    table = ClientImport.__table__
    conditions = [table.c.id == import_id, table.c.status == was]
    if claim is not None:
        conditions.append(table.c.tries == claim)
    return conditions


def progress(task: ClientImport) -> dict:
    """What the import's page shows of it, as its progress check gives it: its status,
    the rows read of the total, whether its worker was lost (a running import not heard
    from for SILENT_SECONDS), and whether no worker has started it (`unstarted`: queued
    for UNSTARTED_SECONDS)."""
    shown = {
        "status": task.status,
        "rows": 0,
        "total": task.rows_expected,
        "lost": False,
        "unstarted": False,
    }
    if task.status == "queued":
        waited = utcnow() - task.queued_at
        shown["unstarted"] = waited.total_seconds() > UNSTARTED_SECONDS
    if task.status != "running":
        return shown
    try:
        beat = last_beat(task.id)
    except outages.REDIS_DOWN:
        return shown  # cannot tell: neither counted nor said lost
    heard = beat.at if beat else task.started_at.timestamp()
    shown["rows"] = min(beat.rows, task.rows_expected) if beat else 0
    shown["lost"] = time.time() - heard > SILENT_SECONDS
    return shown


# -- the heartbeat -----------------------------------------------------------------


class Heartbeat:
    """While the import runs (`with` it), a thread tells how many rows it has read, every
    HEARTBEAT_SECONDS; stopped and joined before the import's last write. `forget` it once
    that write is committed: the row says the rest."""

    def __init__(self, import_id: int, run: str | None = None) -> None:
        self.import_id = import_id
        self.run = run  # the run it beats for (`_run_of`): its owner may ask to stop it
        self.rows = 0
        self._redis = redis_connection()
        self._stopped = threading.Event()
        self._stop_asked = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"import-{import_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        self._thread.join()

    def forget(self) -> None:
        """Forget its beats, and whether it was asked to stop."""
        if self._redis is None:
            _beats_here.pop(self.import_id, None)
            _stops_here.pop(self.import_id, None)
            return
        with contextlib.suppress(*outages.REDIS_DOWN):  # they expire by themselves
            self._redis.delete(_KEY.format(self.import_id), _STOP_KEY.format(self.import_id))

    def _write(self, beat: Beat) -> None:
        if self._redis is None:
            _beats_here[self.import_id] = beat
            return
        try:
            self._redis.set(_KEY.format(self.import_id), json.dumps(beat), ex=SILENT_SECONDS * 2)
        except outages.REDIS_DOWN as error:  # the import goes on; its page waits for news
            log.warning(
                "client import %s: heartbeat not written: %s",
                self.import_id,
                outages.reason(error),
            )

    def _asked_to_stop(self) -> str | None:
        """The run of this import that its owner asked to stop, if they did."""
        if self._redis is None:
            return _stops_here.get(self.import_id)
        try:
            asked = self._redis.get(_STOP_KEY.format(self.import_id))
        except outages.REDIS_DOWN:
            return None  # heard at a later beat
        return asked.decode() if asked else None

    def counted(self, rows: Iterable) -> Iterator:
        """`rows`, counted; ImportCancelled once the owner asked to stop the import."""
        for row in rows:
            if self._stop_asked.is_set():
                raise ImportCancelled
            self.rows += 1
            yield row

    def _beat(self) -> None:
        while True:
            self._write(Beat(self.rows, time.time()))
            if self.run is not None and self._asked_to_stop() == self.run:
                self._stop_asked.set()
            if self._stopped.wait(HEARTBEAT_SECONDS):
                return


def _ask_to_stop(import_id: int, run: str) -> None:
    connection = redis_connection()
    if connection is None:
        _stops_here[import_id] = run
        return
    connection.set(_STOP_KEY.format(import_id), run, ex=SILENT_SECONDS * 2)


def last_beat(import_id: int) -> Beat | None:
    """The running import's latest heartbeat; None when none was heard lately."""
    connection = redis_connection()
    if connection is None:
        return _beats_here.get(import_id)
    raw = connection.get(_KEY.format(import_id))
    return Beat(*json.loads(raw)) if raw else None
