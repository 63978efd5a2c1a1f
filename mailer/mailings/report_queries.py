"""The report: per mailing and in total, added up from the runs' tallies by the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import Mailing, Message, Run, RunTally, User

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

    Both add up the runs' tallies (kept as they send), never the attempts
    themselves: an owner's log may hold millions of them.
    """
    return _rows(owner, page=page, per_page=per_page), _totals(owner)


def _per_run(run_filter):
    """Each run's attempts and successes from its tally rows: a subquery keyed by run."""
    return (
        select(
            Run.id.label("run_id"),
            Run.mailing_id,
            Run.scheduled_for,
            func.coalesce(func.sum(RunTally.attempts), 0).label("attempts"),
            func.coalesce(func.sum(RunTally.successes), 0).label("successes"),
        )
        .outerjoin(RunTally, RunTally.run_id == Run.id)
        .where(run_filter)
        .group_by(Run.id)
        .subquery()
    )


def _rows(owner: User, *, page: int, per_page: int) -> list[ReportRow]:
    shown = (
        select(Mailing.id, Mailing.message_id, Mailing.status, Mailing.is_active)
        .where(Mailing.owner_id == owner.id)
        .order_by(Mailing.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
        .cte("shown")
    )
    runs = _per_run(Run.mailing_id.in_(select(shown.c.id)))
    per_mailing = (
        select(
            runs.c.mailing_id,
            func.count().label("runs"),
            func.sum(runs.c.attempts).label("attempts"),
            func.sum(runs.c.successes).label("successes"),
            func.max(runs.c.scheduled_for).label("last_run"),
        )
        .group_by(runs.c.mailing_id)
        .subquery()
    )
    n_attempts = func.coalesce(per_mailing.c.attempts, 0)
    n_successes = func.coalesce(per_mailing.c.successes, 0)
    rows = db.session.execute(
        select(
            shown.c.id,
            Message.subject,
            shown.c.status,
            shown.c.is_active,
            func.coalesce(per_mailing.c.runs, 0),
            n_attempts,
            n_successes,
            n_attempts - n_successes,
            per_mailing.c.last_run,
        )
        .join(Message, Message.id == shown.c.message_id)
        .outerjoin(per_mailing, per_mailing.c.mailing_id == shown.c.id)
        .order_by(shown.c.id.desc())
    ).all()
    return [
        ReportRow(*row[:4], *(int(n) for n in row[4:8]), last_run=_aware(row[-1])) for row in rows
    ]


def _totals(owner: User) -> ReportTotals:
    owned = Run.mailing_id.in_(select(Mailing.id).where(Mailing.owner_id == owner.id))
    runs = _per_run(owned)
    mailings = select(func.count()).where(Mailing.owner_id == owner.id).scalar_subquery()
    row = db.session.execute(
        select(
            mailings,
            func.count(runs.c.run_id),
            func.coalesce(func.sum(runs.c.attempts), 0),
            func.coalesce(func.sum(runs.c.successes), 0),
            func.max(runs.c.scheduled_for),
        ).select_from(runs)
    ).one()
    attempts, successes = int(row[2]), int(row[3])
    return ReportTotals(
        mailings=row[0],
        runs=int(row[1]),
        attempts=attempts,
        successes=successes,
        failures=attempts - successes,
        last_run=_aware(row[4]),
    )


def _aware(value: datetime | None) -> datetime | None:
    """MAX() keeps the column type, but be safe if a driver hands back a naive value."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
