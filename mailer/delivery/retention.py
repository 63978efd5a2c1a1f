"""The attempt log's old rows deleted, when ATTEMPT_RETENTION_DAYS asks for it (0: never).

The log gains a row for every email tried: at a few hundred thousand emails a day,
tens of millions a year. The reports read the runs' tallies, never the attempts, so
their figures stay whole; the attempt log, its CSV and a client's page show what is
left. Rows go a chunk at a time, each chunk its own short transaction, oldest first
(by the index on `attempted_at`), so that sending goes on meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from mailer.extensions import db
from mailer.models import Attempt

PRUNE_CHUNK = 10_000


def prune_attempts(*, now: datetime, days: int, chunk: int = PRUNE_CHUNK) -> int:
    """Delete the attempts made more than `days` days before `now`; commits each chunk.
    Returns how many went. `days` below 1 deletes nothing: it means "keep them all"
    (a worker whose settings differ from the scheduler's that queued the job)."""
    if days < 1:
        return 0
    cutoff = now - timedelta(days=days)
    oldest = (
        select(Attempt.id)
        .where(Attempt.attempted_at < cutoff)
        .order_by(Attempt.attempted_at)
        .limit(chunk)
    )
    total = 0
    while True:
        deleted = db.session.execute(
            delete(Attempt)
            .where(Attempt.id.in_(oldest.scalar_subquery()))
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        total += deleted
        if deleted < chunk:
            return total
