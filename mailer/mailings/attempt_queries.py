"""The attempt log: filters, one page, and the rows of its CSV export.

The owner's log and the managers' log are the same query; the owner's is
scoped with `Attempt.owned_by`, the managers' may filter by owner email.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from mailer.mailings.pagination import CappedPagination
from mailer.mailings.periods import Period
from mailer.models import Attempt, Client, Mailing, Message, Run, User
from mailer.models.search import contains_as_typed

PER_PAGE = 50
CSV_HEADER = [
    "time",
    "result",
    "reply_code",
    "reply",
    "recipient",
    "client_name",
    "mailing_id",
    "subject",
    "run_id",
    "run_scheduled_for",
    "owner",
    # Added later, last, so that columns read by position keep their places: the run's
    # number among its mailing's runs and the mailing's name, as the pages show them.
    "run_number",
    "mailing",
]


@dataclass(frozen=True)
class AttemptFilters:
    mailing_id: int | None = None
    run_id: int | None = None
    client_id: int | None = None
    status: str = ""  # "", "success" or "failure"
    date_from: date | None = None  # local dates in the viewer's time zone, inclusive
    date_to: date | None = None
    owner_email: str = ""  # managers only


def matching_attempts(filters: AttemptFilters, *, tz: str, owner: User | None = None):
    """The attempts `filters` choose (the owner's, or everyone's), with no joins.

    Counting a page's total on this rather than on the joined query below lets
    PostgreSQL read one index instead of planning five tables.
    """
    query = Attempt.owned_by(owner) if owner is not None else Attempt.query
    if filters.mailing_id is not None:
        query = query.filter(Attempt.mailing_id == filters.mailing_id)
    if filters.run_id is not None:
        query = query.filter(Attempt.run_id == filters.run_id)
    if filters.client_id is not None:
        query = query.filter(Attempt.client_id == filters.client_id)
    if filters.status in ("success", "failure"):
        query = query.filter(Attempt.success.is_(filters.status == "success"))
    period = Period.of_days(filters.date_from, filters.date_to, tz)
    query = query.filter(*period.bounds(Attempt.attempted_at))
    if filters.owner_email.strip():
        owners = select(User.id).where(contains_as_typed(User.email, filters.owner_email.strip()))
        query = query.filter(Attempt.owner_id.in_(owners))
    return query


def filtered_run(filters: AttemptFilters, *, owner: User | None = None) -> Run | None:
    """The run the log is narrowed to (the owner's, or anyone's), with its mailing."""
    if filters.run_id is None:
        return None
    query = Run.owned_by(owner) if owner is not None else Run.query.join(Run.mailing)
    return (
        query.options(contains_eager(Run.mailing).joinedload(Mailing.message))
        .filter(Run.id == filters.run_id)
        .first()
    )


def filtered_client(filters: AttemptFilters, *, owner: User | None = None) -> Client | None:
    """The client the log is narrowed to (the owner's, or anyone's)."""
    if filters.client_id is None:
        return None
    query = Client.owned_by(owner) if owner is not None else Client.query
    return query.filter(Client.id == filters.client_id).first()


def latest_to_client(client: Client, *, count: int) -> list[Attempt]:
    """The client's `count` newest attempts, for its page."""
    filters = AttemptFilters(client_id=client.id)  # no dates: the time zone places none
    return attempts_query(filters, tz="UTC", owner=client.owner).limit(count).all()


def attempts_query(filters: AttemptFilters, *, tz: str, owner: User | None = None):
    """Attempts newest first with mailing, message, run, client and owner loaded in one query."""
    return (
        matching_attempts(filters, tz=tz, owner=owner)
        .join(Attempt.mailing)
        .join(Mailing.message)
        .join(Mailing.owner)
        .join(Attempt.run)
        .outerjoin(Attempt.client)
        .options(
            contains_eager(Attempt.mailing).contains_eager(Mailing.message),
            contains_eager(Attempt.mailing).contains_eager(Mailing.owner),
            contains_eager(Attempt.run),
            contains_eager(Attempt.client),
        )
        .order_by(Attempt.attempted_at.desc(), Attempt.id.desc())
    )


def attempt_page(
    filters: AttemptFilters, *, tz: str, page: int, owner: User | None = None
) -> CappedPagination:
    """One page of the log (PER_PAGE), its total counted up to COUNT_LIMIT: a fixed 2 queries."""
    return CappedPagination(
        query=attempts_query(filters, tz=tz, owner=owner),
        count_query=matching_attempts(filters, tz=tz, owner=owner),
        page=page,
        per_page=PER_PAGE,
    )


def csv_rows(filters: AttemptFilters, *, tz: str, owner: User | None = None) -> Iterator[list]:
    """The CSV lines of a filtered log, streamed in batches (the log may be millions long).

    The query is built on the first line, not before: a streamed response runs
    in a context (and database session) of its own, and a query made earlier
    would keep the request's closed session, and its connection, busy.
    """
    zone = ZoneInfo(tz)
    yield CSV_HEADER
    for attempt in attempts_query(filters, tz=tz, owner=owner).yield_per(1000):
        client: Client | None = attempt.client
        run: Run = attempt.run
        message: Message = attempt.mailing.message
        yield [
            attempt.attempted_at.astimezone(zone).isoformat(timespec="seconds"),
            "success" if attempt.success else "failure",
            "" if attempt.reply_code is None else attempt.reply_code,
            attempt.reply,
            attempt.recipient,
            client.full_name if client else "",
            attempt.mailing_id,
            message.subject,
            attempt.run_id,
            run.scheduled_for.astimezone(zone).isoformat(timespec="seconds"),
            attempt.mailing.owner.email,
            run.number,
            attempt.mailing.title,
        ]
