"""Claim due mailings, create their runs and deliveries, enqueue send batches after commit.

Several dispatchers may run at once (schedulers on two machines, a CLI
call during a tick). A mailing is claimed by a conditional UPDATE that moves
its `next_send_at` on only if it still holds the value this dispatcher read:
one row changed means the claim is ours, none means someone else's. The
unique key (mailing, scheduled_for) on runs backs it; on PostgreSQL
`FOR UPDATE SKIP LOCKED` lets dispatchers pass each other's rows without
waiting. A run's deliveries are one INSERT ... SELECT, and its send jobs are
enqueued only after the transaction that created them committed.

Each tick also puts waiting work back on the queue: retries whose time has
come, the rest of a run paused by the daily quota, and deliveries whose
jobs were lost: with a worker that died, or in Redis (`requeue_waiting`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from mailer.delivery import jobs, ledger, schedule, sender, stopping
from mailer.extensions import db, insert_on_conflict
from mailer.main import stats
from mailer.models import (
    Client,
    Delivery,
    Heartbeat,
    Mailing,
    Run,
    User,
    mailing_clients,
    utcnow,
)
from mailer.models.types import UTCDateTime

log = logging.getLogger(__name__)

# A "Send now" begun this little before a scheduled slot is that slot's send.
SEND_NOW_COVERS = timedelta(minutes=10)
# A mailing's last slot (often at its very end: "daily at 9, until the 10th at 9") is sent
# when dispatch takes it this soon after the end; later, the window is over.
LATE_AT_THE_END = timedelta(minutes=10)
# With Redis: a run's waiting deliveries untouched this long, with no batch of the run
# queued or running, lost their jobs. Far longer than a run's commit takes to be enqueued.
JOBS_LOST_AFTER = timedelta(seconds=60)


def dispatch_due(now: datetime | None = None) -> int:
    """Dispatch every due mailing and re-enqueue waiting deliveries; returns runs created.
    Each time it finishes it says so (a heartbeat), for /healthz."""
    now = now or utcnow()
    created = 0
    for mailing_id, due in _due_mailings(now):
        run_id = claim_and_create_run(mailing_id, due, now)
        if run_id is not None:
            enqueue_run(run_id)
            created += 1
    requeue_waiting(now)
    _beat(now)
    return created


def _beat(now: datetime) -> None:
    statement = insert_on_conflict(Heartbeat).values(name=Heartbeat.DISPATCH, beat_at=now)
    db.session.execute(
        statement.on_conflict_do_update(index_elements=["name"], set_={"beat_at": now})
    )
    db.session.commit()


def _due_mailings(now: datetime) -> list[tuple[int, datetime]]:
    rows = db.session.execute(
        select(Mailing.id, Mailing.next_send_at)
        .join(User, User.id == Mailing.owner_id)
        .where(Mailing.is_active.is_(True), User.is_blocked.is_(False))
        .where(Mailing.next_send_at.is_not(None), Mailing.next_send_at <= now)
        .order_by(Mailing.next_send_at)
    ).all()
    db.session.commit()
    return [(row.id, row.next_send_at) for row in rows]


def claim_and_create_run(mailing_id: int, due: datetime, now: datetime) -> int | None:
    """Claim the mailing's slot `due` and create its run; None when another dispatcher won.

    Commits. The slot moves on to the next send time after `now`, so a
    dispatcher that was down sends one catch-up run, never a burst.
    """
    if not _lock_if_free(mailing_id, due):
        db.session.rollback()
        return None
    mailing = db.session.get(Mailing, mailing_id)
    owner_id = mailing.owner_id  # read before a commit expires it
    next_time = schedule.next_send_time(
        start_at=mailing.start_at,
        end_at=mailing.end_at,
        frequency=mailing.frequency,
        tz=mailing.timezone,
        after=now,
    )
    status = "started" if next_time is not None else "completed"
    claimed = db.session.execute(
        update(Mailing)
        .where(Mailing.id == mailing_id, Mailing.next_send_at == due)
        .where(Mailing.is_active.is_(True))
        .values(next_send_at=next_time, status=status)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        return None
    if now > mailing.end_at + LATE_AT_THE_END:
        # Down past the end of the mailing: the window is over, nothing is sent late.
        db.session.commit()
        stats.counts_changed(owner_id)
        log.warning(
            "mailing %s: the send due at %s is skipped: dispatch came after the mailing's end",
            mailing_id,
            due.isoformat(),
        )
        return None
    if (covering := _covering_run(mailing_id, due)) is not None:
        db.session.commit()
        stats.counts_changed(owner_id)
        log.info(
            "mailing %s: the send due at %s is skipped: run %s is its send",
            mailing_id,
            due.isoformat(),
            covering,
        )
        return None
    return _create_run(mailing, scheduled_for=due, forced=False, now=now)


def _covering_run(mailing_id: int, due: datetime) -> int | None:
    """A run that is the slot `due`'s send already, or None: one still unfinished (a "Send
    now", or a run the daily quota paused), or a "Send now" begun less than
    SEND_NOW_COVERS before the slot. A second run would reach every client again minutes
    later (with one busy worker, the dispatch that creates it may wait for the first).
    Or the slot's own run: an edit or Enable in the minute after a start that had sent
    set the start again (the run's unique key refused it, and the mailing sent no more).
    """
    return db.session.scalar(
        select(Run.id)
        .where(Run.mailing_id == mailing_id)
        .where(
            or_(
                Run.finished_at.is_(None),
                and_(Run.forced.is_(True), Run.created_at >= due - SEND_NOW_COVERS),
                and_(Run.forced.is_(False), Run.scheduled_for == due),
            )
        )
        .limit(1)
    )


def _lock_if_free(mailing_id: int, due: datetime) -> bool:
    """PostgreSQL: skip a row another dispatcher holds. Elsewhere the UPDATE decides alone."""
    if db.engine.dialect.name != "postgresql":
        return True
    locked = db.session.scalar(
        select(Mailing.id)
        .where(Mailing.id == mailing_id, Mailing.next_send_at == due)
        .with_for_update(skip_locked=True)
    )
    return locked is not None


class RunInProgress(Exception):
    """ "Send now" refused: a run of the mailing has not finished (`run_id`)."""

    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"run {run_id} of this mailing has not finished")
        self.run_id = run_id


def sent_again_after_send_now(mailing: Mailing, now: datetime | None = None) -> datetime | None:
    """When a "once" mailing sent now would still go out at its start (not so close that
    the send now counts as that send, SEND_NOW_COVERS), else None."""
    if mailing.frequency != "once" or mailing.next_send_at is None:
        return None
    due = mailing.next_send_at
    return due if due > (now or utcnow()) + SEND_NOW_COVERS else None


def start_forced_run(mailing_id: int, now: datetime | None = None) -> int | None:
    """ "Send now": a run of the mailing outside its schedule; None when it may not send.

    Raises RunInProgress while a run of the mailing is unfinished: a second run would
    send its clients the same email again. A second click racing the first is refused
    by the unique index one_unfinished_forced_run. Commits. The schedule is left as it
    is; the caller enqueues (or sends) the run.
    """
    now = now or utcnow()
    mailing = db.session.get(Mailing, mailing_id)
    if mailing is None or mailing.owner.is_blocked or not _mark_started(mailing_id):
        return None
    unfinished = unfinished_run(mailing_id)
    if unfinished is not None:
        db.session.rollback()
        raise RunInProgress(unfinished)
    run_id = _create_run(mailing, scheduled_for=now, forced=True, now=now)
    if run_id is None:  # the same moment's run, or another unfinished forced one
        raise RunInProgress(unfinished_run(mailing_id))
    return run_id


def _mark_started(mailing_id: int) -> bool:
    """Mark an active mailing "started" (if it was "created"); False when it is disabled.

    It is the "Send now" transaction's first write, and it holds the mailing until the
    commit (PostgreSQL: its row; SQLite: the database), as a dispatch's claim does.
    A dispatch creating the slot's run in the same instant is therefore either seen by
    the check for an unfinished run that follows, or waits and then sees this run as
    the slot's send (`_covering_run`); without it both created a run and every client
    got the email twice.
    """
    marked = db.session.execute(
        update(Mailing)
        .where(Mailing.id == mailing_id, Mailing.is_active.is_(True))
        .values(status=case((Mailing.status == "created", "started"), else_=Mailing.status))
        .execution_options(synchronize_session=False)
    ).rowcount
    return marked == 1


def unfinished_run(mailing_id: int) -> int | None:
    """The id of a run of the mailing that is still sending (or paused, or retrying)."""
    return db.session.scalar(Run.unfinished_ids().where(Run.mailing_id == mailing_id).limit(1))


def _create_run(mailing: Mailing, *, scheduled_for: datetime, forced: bool, now: datetime):
    mailing_id, owner_id = mailing.id, mailing.owner_id  # read before the commit expires them
    run = Run(mailing_id=mailing_id, scheduled_for=scheduled_for, forced=forced, created_at=now)
    db.session.add(run)
    try:
        db.session.flush()
    except IntegrityError:  # this slot already has its run
        db.session.rollback()
        return None
    count = _create_deliveries(run.id, mailing_id, now)
    run.total = count
    if count == 0:
        run.finished_at = now
    else:  # the message as the run begins, for each of its batches (Run.subject)
        message = mailing.message
        run.subject, run.body_text = message.subject, message.body_text
        run.body_html = message.body_html or ""
    run_id = run.id
    db.session.commit()
    stats.counts_changed(owner_id)
    log.info("mailing %s: run %s created with %s deliveries", mailing_id, run_id, count)
    return run_id


def _create_deliveries(run_id: int, mailing_id: int, now: datetime) -> int:
    """One INSERT ... SELECT: a delivery per client of the mailing who may still receive mail."""
    owner_id = select(Mailing.owner_id).where(Mailing.id == mailing_id).scalar_subquery()
    clients = (
        select(
            literal(run_id),
            Client.id,
            literal("pending"),
            literal(0),
            literal(now, UTCDateTime()),
        )
        .select_from(mailing_clients.join(Client, Client.id == mailing_clients.c.client_id))
        .where(mailing_clients.c.mailing_id == mailing_id, Client.owner_id == owner_id)
        .where(Client.can_receive)
    )
    columns = ["run_id", "client_id", "status", "tries", "updated_at"]
    return db.session.execute(insert(Delivery).from_select(columns, clients)).rowcount


def run_batches(run_id: int, delivery_ids: list[int] | None = None) -> list[list[int]]:
    """The run's waiting delivery ids in SEND_BATCH_SIZE chunks."""
    if delivery_ids is None:
        delivery_ids = list(
            db.session.scalars(
                select(Delivery.id)
                .where(Delivery.run_id == run_id, Delivery.status.in_(stopping.WAITING))
                .order_by(Delivery.id)
            )
        )
    size = current_app.config["SEND_BATCH_SIZE"]
    return [delivery_ids[i : i + size] for i in range(0, len(delivery_ids), size)]


def enqueue_run(run_id: int, delivery_ids: list[int] | None = None) -> int:
    """Enqueue the send jobs of a committed run; returns the number of batches."""
    batches = run_batches(run_id, delivery_ids)
    db.session.commit()
    for batch in batches:
        jobs.enqueue(jobs.send_batch_job, run_id, batch, run_id=run_id)
    return len(batches)


def requeue_waiting(now: datetime | None = None) -> int:
    """Put waiting deliveries back on the queue; returns how many.

    - "retry" deliveries whose time has come (backoff over, or the next day);
    - deliveries of unfinished runs whose jobs were lost, unless a job of their run
      still waits in the queue (then they wait their turn):
      - untouched for SEND_STALL_SECONDS: their job died with its worker (one left
        "sending" becomes "unknown");
      - with Redis, untouched for JOBS_LOST_AFTER, no job of their run running either:
        Redis lost the queue, or was away when the run was enqueued.
    Each is taken by a conditional UPDATE, so two dispatchers requeue it once.
    """
    now = now or utcnow()
    stall_cutoff = now - timedelta(seconds=current_app.config["SEND_STALL_SECONDS"])
    ledger.recover_claimed(stall_cutoff)
    _mark_stalled_unknown(stall_cutoff)
    due_retry = and_(Delivery.status == "retry", Delivery.next_try_at <= now)
    # The queue first: a job that starts between the two reads is then seen in one of them.
    # (A worker takes a job off the queue a moment before RQ lists it as started: a tick
    # reading both within that moment queues its batch twice, and the claims send it once.)
    queued = jobs.runs_queued()
    running = jobs.runs_running()
    lost = Delivery.updated_at < stall_cutoff
    if running is not None:
        no_job = and_(Delivery.updated_at < now - JOBS_LOST_AFTER, Delivery.run_id.not_in(running))
        lost = or_(lost, no_job)
    stalled = and_(
        Delivery.status.in_(stopping.WAITING),
        Delivery.next_try_at.is_(None),
        lost,
        Delivery.run_id.not_in(queued),
    )
    taken = db.session.execute(
        update(Delivery)
        .where(or_(due_retry, stalled), Delivery.run_id.in_(Run.unfinished_ids()))
        .values(next_try_at=None, updated_at=now)
        .returning(Delivery.run_id, Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    by_run: dict[int, list[int]] = defaultdict(list)
    for run_id, delivery_id in taken:
        by_run[run_id].append(delivery_id)
    for run_id, ids in by_run.items():
        # Said, or a run whose job was lost (Redis down at "Send now") starts unexplained.
        log.info("run %s: %s put back on the queue (retry due, or job lost)", run_id, len(ids))
        enqueue_run(run_id, sorted(ids))
    return len(taken)


def _mark_stalled_unknown(stall_cutoff: datetime) -> None:
    """Deliveries a dead worker left "sending": their outcome is unknown; never resent."""
    stalled = db.session.execute(
        select(Delivery.run_id, Delivery.id).where(
            Delivery.run_id.in_(Run.unfinished_ids()),
            Delivery.status == "sending",
            Delivery.updated_at < stall_cutoff,
        )
    ).all()
    db.session.commit()
    by_run: dict[int, list[int]] = defaultdict(list)
    for run_id, delivery_id in stalled:
        by_run[run_id].append(delivery_id)
    for run_id, ids in by_run.items():
        sender.mark_stalled_unknown(run_id, ids, stall_cutoff)
