"""Ending what a run waits to send before it is sent, and ending the run.

A disabled mailing or a blocked owner (invariant 6), a client taken out of the
mailing, or one who unsubscribed, cancels the deliveries still waiting; what a
worker has claimed or is sending goes out. The rows are locked in id order, the
order workers claim them in, so the two never deadlock. A run with nothing left to
send is finished.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from sqlalchemy import select, update

from mailer.delivery import tallies
from mailer.extensions import db
from mailer.models import Delivery, Run, clients_of, utcnow

WAITING = ("pending", "retry")
UNFINISHED = ("pending", "retry", "claimed", "sending")
# A finished run's copy of its message, needed no more (models: Run.subject).
NO_MESSAGE = {"subject": None, "body_text": None, "body_html": None}


def cancel_remaining(run_id: int) -> int:
    """Cancel the run's deliveries that wait to be sent; returns how many."""
    return sum(_cancel(select(Delivery.id).where(Delivery.run_id == run_id)).values())


def stop_unfinished_runs(mailing_ids) -> int:
    """Cancel what the mailings' unfinished runs wait to send, at once (they were disabled,
    or their owner blocked); returns how many. Flushes.

    A sending run would stop at its next chunk anyway, but a run the daily quota paused
    has no worker to see the stop until the next day.
    """
    runs = Run.unfinished_ids().where(Run.mailing_id.in_(mailing_ids))
    return _cancel_and_finish(select(Delivery.id).where(Delivery.run_id.in_(runs)))


def cancel_dropped_clients(mailing_id: int) -> int:
    """Cancel what the mailing's unfinished runs still wait to send to clients it no longer
    has (its owner changed its clients meanwhile); returns how many. Flushes."""
    runs = Run.unfinished_ids().where(Run.mailing_id == mailing_id)
    kept = clients_of(mailing_id)
    return _cancel_and_finish(
        select(Delivery.id).where(Delivery.run_id.in_(runs), Delivery.client_id.not_in(kept))
    )


def cancel_client(client_id: int, mailing_ids=None) -> int:
    """Cancel what the mailings' unfinished runs still wait to send to one client, taken out
    of them; with no mailings given, what every unfinished run does, the client being to get
    nothing more (unsubscribed, or bounced by a report read later). Returns how many;
    flushes.

    A batch checks its clients when it starts, and a batch can last many minutes under a
    rate limit: without this, the emails of the batch under way still went out.
    """
    runs = Run.unfinished_ids()
    if mailing_ids is not None:
        runs = runs.where(Run.mailing_id.in_(mailing_ids))
    return _cancel_and_finish(
        select(Delivery.id).where(Delivery.run_id.in_(runs), Delivery.client_id == client_id)
    )


@contextmanager
def finishing_runs_of(clients):
    """Around the deletion of `clients` (ids, or a select of them): the unfinished runs
    with a delivery to one of them are finished after it, if it leaves them nothing to
    send. Their deliveries go with the clients, and a run that waited only for those
    (paused by the daily limit, or for a retry) has no worker to finish it: it stayed
    unfinished, and its mailing sent nothing more."""
    waiting = db.session.scalars(
        select(Delivery.run_id)
        .distinct()
        .where(Delivery.client_id.in_(clients), Delivery.run_id.in_(Run.unfinished_ids()))
    ).all()
    yield
    for run_id in waiting:
        finish_if_done(run_id)


def _cancel_and_finish(deliveries) -> int:
    """`_cancel`, then finish each run it leaves with nothing to send; flushes."""
    cancelled = _cancel(deliveries)
    for run_id in cancelled:
        finish_if_done(run_id)
    db.session.flush()
    return sum(cancelled.values())


def _cancel(deliveries) -> Counter:
    """Cancel those of `deliveries` (a select of ids) that wait to be sent, locked in id
    order; adds to their runs' tallies; returns how many by run."""
    waiting = (
        deliveries.where(Delivery.status.in_(WAITING))
        .order_by(Delivery.id)
        .with_for_update(of=Delivery)
    )
    runs = db.session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(waiting.scalar_subquery()), Delivery.status.in_(WAITING))
        .values(status="cancelled", next_try_at=None, updated_at=utcnow())
        .returning(Delivery.run_id)
        .execution_options(synchronize_session=False)
    ).all()
    cancelled = Counter(runs)
    for run_id, count in cancelled.items():
        tallies.add(run_id, cancelled=count)
    return cancelled


def finish_if_done(run_id: int) -> bool:
    """Mark the run finished when none of its deliveries remains to be sent.

    Looks from the run's last delivery back (ix_deliveries_run): a run is sent in id
    order, so while it sends, one that remains is near its end, and the check reads
    a few rows, not the thousands already sent.
    """
    last_remaining = (
        select(Delivery.id)
        .where(Delivery.run_id == run_id, Delivery.status.in_(UNFINISHED))
        .order_by(Delivery.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        db.session.execute(
            update(Run)
            .where(Run.id == run_id, Run.finished_at.is_(None), last_remaining.is_(None))
            .values(finished_at=utcnow(), paused_until=None, **NO_MESSAGE)
        ).rowcount
        == 1
    )
