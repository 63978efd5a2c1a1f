"""How far a run got: counts by outcome (from its tally), for the mailing page and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from mailer.delivery import tallies
from mailer.extensions import db
from mailer.models import Attempt, Delivery, Run, utcnow

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
    """The latest run's counts, whether it finished, until when it is paused, its failed
    try waiting to be tried again, and since when nothing of it went out, if that is long."""
    run = latest_run(mailing_id)
    if run is None:
        return None
    latest = None if run.finished_at else _latest_attempt(run.id)
    return {
        "run_id": run.id,
        "forced": run.forced,
        "started_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
        "paused_until": _iso(run.paused_until),
        "retry": _waiting_retry(latest),
        "quiet_since": None if run.finished_at else _quiet_since(run, latest),
        **run_progress(run.id),
    }


# An unfinished run with no try for this long is said to be quiet: its page says why a send
# may wait (other runs ahead of it, a worker that stopped) and what to check.
QUIET_SECONDS = 120


def _latest_attempt(run_id: int):
    """The run's latest try, with its delivery's state now; None before the first."""
    return db.session.execute(
        select(
            Attempt.attempted_at,
            Attempt.reply_code,
            Attempt.reply,
            Delivery.status,
            Delivery.next_try_at,
        )
        .outerjoin(Delivery, Delivery.id == Attempt.delivery_id)
        .where(Attempt.run_id == run_id)
        .order_by(Attempt.id.desc())
        .limit(1)
    ).first()


def _waiting_retry(latest) -> dict | None:
    """The run's latest try if it failed for a passing reason (the mail server unreachable,
    a 4xx reply) and its email waits to be tried again: when, the reply, the next try.
    None once a later try went through, or when the latest failed for good.
    """
    if latest is None or latest.status != "retry":
        return None
    return {
        "failed_at": _iso(latest.attempted_at),
        "reply_code": latest.reply_code,  # None when no server answered
        "reply": latest.reply,
        "next_try_at": _iso(latest.next_try_at),
    }


def _quiet_since(run: Run, latest) -> str | None:
    """When the run last tried an email (or began), if that is QUIET_SECONDS ago or more."""
    since = latest.attempted_at if latest is not None else run.created_at
    if utcnow() - since < timedelta(seconds=QUIET_SECONDS):
        return None
    return _iso(since)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
