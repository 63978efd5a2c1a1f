"""The report: per mailing and in total, added up from the runs' tallies by the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, case, func, select

from mailer.delivery import tallies
from mailer.extensions import db
from mailer.mailings.periods import ALL_TIME, Period
from mailer.models import Mailing, Message, Run, User

PER_PAGE = 50
# What became of a mailing's emails, in the order of the columns; then its attempts.
FIGURES = ("runs", "deliveries", "sent", "failed", "cancelled", "unknown", "pending", "attempts")


@dataclass(frozen=True, kw_only=True)
class Figures:
    """A mailing's (or all mailings') runs and what became of their deliveries.

    Each delivery (one email to one client in one run) ends sent, failed,
    cancelled (not sent: the mailing was disabled, its owner blocked or the
    client unsubscribed during the run) or unknown (its worker died mid-send);
    until then it is pending. `attempts` counts every try, retries included.
    """

    runs: int
    deliveries: int
    sent: int
    failed: int
    cancelled: int
    unknown: int
    pending: int
    attempts: int
    last_run: datetime | None


@dataclass(frozen=True, kw_only=True)
class ReportRow(Figures):
    mailing_id: int
    title: str
    status: str
    is_active: bool


@dataclass(frozen=True, kw_only=True)
class ReportTotals(Figures):
    mailings: int


def report(owner: User, *, page: int = 1, per_page: int = PER_PAGE, period: Period = ALL_TIME):
    """(rows of one page, totals over all the owner's mailings): 2 queries. Only the runs
    scheduled within `period` count; a mailing with none there shows zeros.

    Both add up the runs' tallies (kept as they send), never the deliveries or
    attempts themselves: an owner's log may hold millions of them.
    """
    return _rows(owner, page=page, per_page=per_page, period=period), _totals(owner, period)


def every_row(owner: User, *, period: Period = ALL_TIME) -> list[ReportRow]:
    """The rows of every page at once (the CSV export): one query."""
    return _rows(owner, page=1, per_page=None, period=period)


def _per_run(run_filter):
    """Each run's figures from its tally rows (tallies.summed): a subquery keyed by run.

    A finished run has nothing pending: a delivery whose client was deleted
    mid-run leaves the run's total but is never settled (tallies.Counts.pending).
    """
    sums = tallies.summed(select(Run.id).where(run_filter))
    counts = {
        name: func.coalesce(sums.c[name], 0)
        for name in ("sent", "failed", "cancelled", "unknown", "attempts")
    }
    unsettled = Run.total - counts["sent"] - counts["failed"] - counts["cancelled"]
    unsettled = unsettled - counts["unknown"]
    return (
        select(
            Run.id.label("run_id"),
            Run.mailing_id,
            Run.scheduled_for,
            Run.total.label("deliveries"),
            *(count.label(name) for name, count in counts.items()),
            case((and_(Run.finished_at.is_(None), unsettled > 0), unsettled), else_=0).label(
                "pending"
            ),
        )
        .outerjoin(sums, sums.c.run_id == Run.id)
        .where(run_filter)
        .subquery()
    )


def _summed(runs) -> list:
    """FIGURES added up over `runs` (a _per_run subquery), then the last run."""
    return [
        func.count(runs.c.run_id),
        *(func.coalesce(func.sum(runs.c[name]), 0) for name in FIGURES[1:]),
        func.max(runs.c.scheduled_for),
    ]


def _figures(values) -> dict:
    """FIGURES and last_run by name, from the columns _summed gave."""
    *numbers, last_run = values
    return {
        **dict(zip(FIGURES, (int(n or 0) for n in numbers), strict=True)),
        "last_run": _aware(last_run),
    }


def _rows(owner: User, *, page: int, per_page: int | None, period: Period) -> list[ReportRow]:
    shown = (
        select(Mailing.id, Mailing.name, Mailing.message_id, Mailing.status, Mailing.is_active)
        .where(Mailing.owner_id == owner.id)
        .order_by(Mailing.id.desc())
    )
    if per_page is not None:
        shown = shown.limit(per_page).offset((max(page, 1) - 1) * per_page)
    shown = shown.cte("shown")
    runs = _per_run(and_(Run.mailing_id.in_(select(shown.c.id)), *period.bounds(Run.scheduled_for)))
    per_mailing = (
        select(
            runs.c.mailing_id, *(column.label(f"f{n}") for n, column in enumerate(_summed(runs)))
        )
        .group_by(runs.c.mailing_id)
        .subquery()
    )
    figures = [column for column in per_mailing.c if column.name != "mailing_id"]
    title = case((shown.c.name != "", shown.c.name), else_=Message.subject)  # Mailing.title
    rows = db.session.execute(
        select(shown.c.id, title, shown.c.status, shown.c.is_active, *figures)
        .join(Message, Message.id == shown.c.message_id)
        .outerjoin(per_mailing, per_mailing.c.mailing_id == shown.c.id)
        .order_by(shown.c.id.desc())
    ).all()
    return [
        ReportRow(
            mailing_id=row[0],
            title=row[1],
            status=row[2],
            is_active=row[3],
            **_figures(row[4:]),
        )
        for row in rows
    ]


def _totals(owner: User, period: Period) -> ReportTotals:
    owned = Run.mailing_id.in_(select(Mailing.id).where(Mailing.owner_id == owner.id))
    runs = _per_run(and_(owned, *period.bounds(Run.scheduled_for)))
    mailings = select(func.count()).where(Mailing.owner_id == owner.id).scalar_subquery()
    row = db.session.execute(select(mailings, *_summed(runs)).select_from(runs)).one()
    return ReportTotals(mailings=row[0], **_figures(row[1:]))


def _aware(value: datetime | None) -> datetime | None:
    """MAX() keeps the column type, but be safe if a driver hands back a naive value."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
