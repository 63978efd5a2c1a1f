"""A run's outcome counts, kept as it sends (RunTally), so no page counts deliveries.

Every write that gives a delivery a final state (sent, failed, unknown,
cancelled) or records an attempt adds to the run's tally in the same
transaction, so the counts are exactly what the rows say, whatever crashes.
The PostgreSQL ledger does it inside its prepared statements (ledger.py);
everything else goes through `add`.

A delivery reaches one final state once: an outcome is written only over
"sending", and a late reply for a delivery already marked "unknown" adds its
attempt row (and counts the attempt) but leaves the delivery unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from mailer.extensions import db, insert_on_conflict
from mailer.models import Run, RunTally

COUNTS = ("attempts", "successes", "sent", "failed", "unknown", "cancelled")
OUTSIDE_A_BATCH = 0  # the shard of writes that are not a worker's batch


@dataclass(frozen=True)
class Counts:
    total: int
    finished: bool
    attempts: int = 0
    successes: int = 0
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    cancelled: int = 0

    @property
    def pending(self) -> int:
        """Not final yet (waiting, retrying, in flight); 0 once the run has finished
        (a delivery whose client was deleted mid-run leaves the total, not the tally)."""
        if self.finished:
            return 0
        return max(self.total - self.sent - self.failed - self.unknown - self.cancelled, 0)


def add(run_id: int, *, shard: int = OUTSIDE_A_BATCH, **deltas: int) -> None:
    """Add `deltas` (names from COUNTS) to the run's tally row `shard`, creating it if needed."""
    deltas = {name: value for name, value in deltas.items() if value}
    if not deltas:
        return
    statement = insert_on_conflict(RunTally).values(run_id=run_id, shard=shard, **deltas)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[RunTally.run_id, RunTally.shard],
            set_={name: getattr(RunTally, name) + statement.excluded[name] for name in deltas},
        )
    )


def summed(run_ids):
    """A subquery: run_id and each count summed over the run's rows, for `run_ids`."""
    return (
        select(
            RunTally.run_id,
            *(func.sum(getattr(RunTally, name)).label(name) for name in COUNTS),
        )
        .where(RunTally.run_id.in_(run_ids))
        .group_by(RunTally.run_id)
        .subquery()
    )


def sent_by_mailing(mailing_id: int) -> int:
    """How many emails all the mailing's runs sent: one query."""
    sent = db.session.scalar(
        select(func.sum(RunTally.sent))
        .join(Run, Run.id == RunTally.run_id)
        .where(Run.mailing_id == mailing_id)
    )
    return int(sent or 0)


def counts(run_id: int) -> Counts:
    """One run's counts: one query."""
    sums = summed(select(Run.id).where(Run.id == run_id))
    row = db.session.execute(
        select(
            Run.total,
            Run.finished_at.is_not(None),
            *(func.coalesce(sums.c[name], 0) for name in COUNTS),
        )
        .outerjoin(sums, sums.c.run_id == Run.id)
        .where(Run.id == run_id)
    ).one()
    return Counts(row[0], bool(row[1]), *(int(value) for value in row[2:]))
