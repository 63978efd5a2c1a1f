"""The report: per mailing and in total, aggregated by the database (GROUP BY)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select

from mailer.extensions import db
from mailer.models import Attempt, Mailing, Message, Run, User

PER_PAGE = 50


@dataclass(frozen=True)
class ReportRow:
    mailing_id: int
    subject: str
    status: str
    is_active: bool
    runs: int
    attempts: int
    successes: int
    failures: int
    last_run: datetime | None


@dataclass(frozen=True)
class ReportTotals:
    mailings: int
    runs: int
    attempts: int
    successes: int
    failures: int
    last_run: datetime | None


def _attempt_counts(owner: User):
    successes = func.sum(case((Attempt.success.is_(True), 1), else_=0))
    return (
        select(
            Attempt.mailing_id.label("mailing_id"),
            func.count(Attempt.id).label("attempts"),
            successes.label("successes"),
        )
        .where(Attempt.owner_id == owner.id)
        .group_by(Attempt.mailing_id)
        .subquery()
    )


def _run_counts(owner: User):
    return (
        select(
            Run.mailing_id.label("mailing_id"),
            func.count(Run.id).label("runs"),
            func.max(Run.scheduled_for).label("last_run"),
        )
        .join(Mailing, Mailing.id == Run.mailing_id)
        .where(Mailing.owner_id == owner.id)
        .group_by(Run.mailing_id)
        .subquery()
    )


def report(owner: User, *, page: int = 1, per_page: int = PER_PAGE):
    """(rows of one page, totals over all the owner's mailings, number of mailings): 2 queries."""
    attempts = _attempt_counts(owner)
    runs = _run_counts(owner)
    n_runs = func.coalesce(runs.c.runs, 0)
    n_attempts = func.coalesce(attempts.c.attempts, 0)
    n_successes = func.coalesce(attempts.c.successes, 0)
    base = (
        select(Mailing.id)
        .outerjoin(attempts, attempts.c.mailing_id == Mailing.id)
        .outerjoin(runs, runs.c.mailing_id == Mailing.id)
        .where(Mailing.owner_id == owner.id)
    )
    rows = db.session.execute(
        base.join(Message, Message.id == Mailing.message_id)
        .add_columns(
            Message.subject,
            Mailing.status,
            Mailing.is_active,
            n_runs,
            n_attempts,
            n_successes,
            n_attempts - n_successes,
            runs.c.last_run,
        )
        .order_by(Mailing.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    totals_row = db.session.execute(
        base.with_only_columns(
            func.count(Mailing.id),
            func.coalesce(func.sum(n_runs), 0),
            func.coalesce(func.sum(n_attempts), 0),
            func.coalesce(func.sum(n_successes), 0),
            func.max(runs.c.last_run),
        )
    ).one()
    totals = ReportTotals(
        mailings=totals_row[0],
        runs=int(totals_row[1]),
        attempts=int(totals_row[2]),
        successes=int(totals_row[3]),
        failures=int(totals_row[2]) - int(totals_row[3]),
        last_run=_aware(totals_row[4]),
    )
    report_rows = [ReportRow(*row[:-1], last_run=_aware(row[-1])) for row in rows]
    return report_rows, totals


def _aware(value: datetime | None) -> datetime | None:
    """MAX() keeps the column type, but be safe if a driver hands back a naive value."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
