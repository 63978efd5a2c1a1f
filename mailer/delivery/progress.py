"""How far a run got: counts by outcome, for the mailing page and the CLI."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import Delivery, Run

# What the page shows -> the delivery states it counts.
GROUPS = {
    "sent": ("sent",),
    "failed": ("failed",),
    "pending": ("pending", "retry", "claimed", "sending"),
    "cancelled": ("cancelled",),
    "unknown": ("unknown",),
}


def run_progress(run_id: int) -> dict:
    counts = dict(
        db.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.run_id == run_id)
            .group_by(Delivery.status)
        ).all()
    )
    result = {name: sum(counts.get(s, 0) for s in states) for name, states in GROUPS.items()}
    result["total"] = sum(counts.values())
    return result


def latest_run(mailing_id: int) -> Run | None:
    return db.session.scalar(
        select(Run).where(Run.mailing_id == mailing_id).order_by(Run.id.desc()).limit(1)
    )


def mailing_progress(mailing_id: int) -> dict | None:
    """The latest run's counts, whether it finished, and until when it is paused."""
    run = latest_run(mailing_id)
    if run is None:
        return None
    return {
        "run_id": run.id,
        "forced": run.forced,
        "started_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
        "paused_until": _iso(run.paused_until),
        **run_progress(run.id),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
