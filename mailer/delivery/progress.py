"""How far a run got: counts by outcome (from its tally), for the mailing page and the CLI."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mailer.delivery import tallies
from mailer.extensions import db
from mailer.models import Attempt, Delivery, Run

# The counts of `run_progress`.
COUNTS = ("sent", "failed", "pending", "cancelled", "unknown", "failed_or_unknown", "total")


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
        "retry": None if run.finished_at else waiting_retry(run.id),
        **run_progress(run.id),
    }


def waiting_retry(run_id: int) -> dict | None:
    """The run's latest try if it failed for a passing reason (the mail server unreachable,
    a 4xx reply) and its email waits to be tried again: when, the reply, the next try.
    None once a later try went through, or when the latest failed for good.
    """
    latest = (
        select(Attempt.id)
        .where(Attempt.run_id == run_id)
        .order_by(Attempt.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    waiting = db.session.execute(
        select(Attempt.attempted_at, Attempt.reply_code, Attempt.reply, Delivery.next_try_at)
        .join(Delivery, Delivery.id == Attempt.delivery_id)
        .where(Attempt.id == latest, Delivery.status == "retry")
    ).first()
    if waiting is None:
        return None
    return {
        "failed_at": _iso(waiting.attempted_at),
        "reply_code": waiting.reply_code,  # None when no server answered
        "reply": waiting.reply,
        "next_try_at": _iso(waiting.next_try_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
