"""The report: per mailing and in total, aggregated by the database (GROUP BY)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select, true

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


def report(owner: User, *, page: int = 1, per_page: int = PER_PAGE):
    """(rows of one page, totals over all the owner's mailings): 2 queries.

    The rows aggregate only the page's mailings, so a page costs what its
    mailings sent, not what the owner ever sent. The totals still read every
    attempt of the owner once (one index scan).
    """
    return _rows(owner, page=page, per_page=per_page), _totals(owner)


def _rows(owner: User, *, page: int, per_page: int) -> list[ReportRow]:
    shown = (
        select(Mailing.id, Mailing.message_id, Mailing.status, Mailing.is_active)
        .where(Mailing.owner_id == owner.id)
        .order_by(Mailing.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
        .cte("shown")
    )
    shown_ids = select(shown.c.id)
    attempts = (
        select(
            Attempt.mailing_id,
            func.count().label("attempts"),
            func.sum(case((Attempt.success.is_(True), 1), else_=0)).label("successes"),
        )
        .where(Attempt.mailing_id.in_(shown_ids))
        .group_by(Attempt.mailing_id)
        .subquery()
    )
    runs = (
        select(
            Run.mailing_id,
            func.count().label("runs"),
            func.max(Run.scheduled_for).label("last_run"),
        )
        .where(Run.mailing_id.in_(shown_ids))
        .group_by(Run.mailing_id)
        .subquery()
    )
    n_attempts = func.coalesce(attempts.c.attempts, 0)
    n_successes = func.coalesce(attempts.c.successes, 0)
    rows = db.session.execute(
        select(
            shown.c.id,
            Message.subject,
            shown.c.status,
            shown.c.is_active,
            func.coalesce(runs.c.runs, 0),
            n_attempts,
            n_successes,
            n_attempts - n_successes,
            runs.c.last_run,
        )
        .join(Message, Message.id == shown.c.message_id)
        .outerjoin(attempts, attempts.c.mailing_id == shown.c.id)
        .outerjoin(runs, runs.c.mailing_id == shown.c.id)
        .order_by(shown.c.id.desc())
    ).all()
    return [ReportRow(*row[:-1], last_run=_aware(row[-1])) for row in rows]


def _totals(owner: User) -> ReportTotals:
    # Attempts carry their owner (denormalised): no join to count them.
    attempts = (
        select(
            func.count().label("attempts"),
            func.coalesce(func.sum(case((Attempt.success.is_(True), 1), else_=0)), 0).label(
                "successes"
            ),
        )
        .where(Attempt.owner_id == owner.id)
        .subquery()
    )
    runs = (
        select(func.count().label("runs"), func.max(Run.scheduled_for).label("last_run"))
        .join(Mailing, Mailing.id == Run.mailing_id)
        .where(Mailing.owner_id == owner.id)
        .subquery()
    )
    mailings = select(func.count().label("mailings")).where(Mailing.owner_id == owner.id).subquery()
    row = db.session.execute(
        select(
            mailings.c.mailings,
            runs.c.runs,
            attempts.c.attempts,
            attempts.c.successes,
            runs.c.last_run,
        )
        # Three one-row subqueries side by side: joined on nothing, on purpose.
        .select_from(mailings)
        .join(runs, true())
        .join(attempts, true())
    ).one()
    return ReportTotals(
        mailings=row[0],
        runs=int(row[1]),
        attempts=int(row[2]),
        successes=int(row[3]),
        failures=int(row[2]) - int(row[3]),
        last_run=_aware(row[4]),
    )


def _aware(value: datetime | None) -> datetime | None:
    """MAX() keeps the column type, but be safe if a driver hands back a naive value."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
