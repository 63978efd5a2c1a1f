"""How far a run got: counts by outcome (from its tally), for the mailing page and the CLI."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mailer.delivery import tallies
from mailer.extensions import db
from mailer.models import Run


def run_progress(run_id: int) -> dict:
    """What the page and the CLI show: sent, failed, pending, cancelled, unknown, total."""
    counts = tallies.counts(run_id)
    return {
        "sent": counts.sent,
        "failed": counts.failed,
        "pending": counts.pending,
        "cancelled": counts.cancelled,
        "unknown": counts.unknown,
        # The runs table's "failed": not known to be sent (mailing_queries.RunSummary).
        "failed_or_unknown": counts.failed + counts.unknown,
        "total": counts.total,
    }


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
