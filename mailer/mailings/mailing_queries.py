"""Reads for the mailing screens, each a fixed number of queries whatever the row count."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import joinedload

from mailer.delivery import tallies
from mailer.extensions import db
from mailer.models import (
    Client,
    Mailing,
    Message,
    Run,
    User,
    clients_of,
    mailing_clients,
    mailings_of,
)
from mailer.models.search import contains_as_typed

PER_PAGE = 25
# The form shows at most this many clients as checkboxes; beyond it the
# owner chooses "all my clients" or "clients matching the search".
CLIENT_CHECKBOX_LIMIT = 200
# A client's form, the import's preview and the client list offer this many of the owner's
# newest mailings (and those that matter to the page: mailing_choices).
MAILING_CHOICE_LIMIT = 200


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    number: int  # among the mailing's runs (Run.number)
    scheduled_for: datetime
    forced: bool
    finished_at: datetime | None
    sent: int
    failed: int  # unknown ones included: not known to be sent
    total: int
    cancelled: int = 0
    paused_until: datetime | None = None  # the daily limit is used up (ratelimit.py)

    @property
    def pending(self) -> int:
        """Not sent, failed nor cancelled yet: 0 once the run has finished (as its tally
        counts it; `failed` holds the unknown ones)."""
        finished = self.finished_at is not None
        settled = {"sent": self.sent, "failed": self.failed, "cancelled": self.cancelled}
        return tallies.Counts(self.total, finished, **settled).pending


def owned_mailing_ids(owner: User, mailing_ids: Collection[int]) -> set[int]:
    """Those of `mailing_ids` that are the owner's mailings."""
    if not mailing_ids:
        return set()
    owned = select(Mailing.id).where(Mailing.owner_id == owner.id, Mailing.id.in_(set(mailing_ids)))
    return set(db.session.scalars(owned))


def mailing_choices(owner: User, *, also: ColumnElement[bool] | None = None) -> list[Mailing]:
    """The owner's mailings a page offers to tick or choose, newest first: the newest
    MAILING_CHOICE_LIMIT, and up to as many more that `also` (a condition on Mailing) picks
    out, such as a client's. An owner may have ten thousand; 2 queries whatever the count.
    Each comes with its message (its title), not the owners that mailings_query joins too."""
    query = Mailing.owned_by(owner).options(joinedload(Mailing.message)).order_by(Mailing.id.desc())
    newest = query.limit(MAILING_CHOICE_LIMIT).all()
    wanted = [] if also is None else query.filter(also).limit(MAILING_CHOICE_LIMIT).all()
    return sorted({*newest, *wanted}, key=lambda mailing: mailing.id, reverse=True)


def next_sends(owner: User, *, count: int) -> list[Mailing]:
    """The owner's `count` switched-on mailings that send soonest, with their messages."""
    return (
        Mailing.owned_by(owner)
        .options(joinedload(Mailing.message))
        .filter(Mailing.is_active.is_(True), Mailing.next_send_at.is_not(None))
        .order_by(Mailing.next_send_at, Mailing.id)
        .limit(count)
        .all()
    )


def of_client(client: Client) -> ColumnElement[bool]:
    """The mailings the client is in, as a condition on Mailing."""
    return Mailing.id.in_(mailings_of(client.id))


def mailing_ids_of(client: Client) -> set[int]:
    """The mailings the client is in."""
    return set(db.session.scalars(mailings_of(client.id)))


def mailings_query(owner: User | None = None):
    """Mailings with their message and owner loaded; all users' when `owner` is None."""
    query = Mailing.owned_by(owner) if owner is not None else Mailing.query
    return query.options(
        joinedload(Mailing.message), joinedload(Mailing.owner), joinedload(Mailing.disabled_by)
    ).order_by(Mailing.id.desc())


def filtered(query, *, search: str = "", status: str = ""):
    """Those of the mailings `query` reads whose name or message subject contains `search`
    (any case; % and _ as typed), in `status`: "disabled" (switched off, whatever their
    schedule), or "created", "started" or "completed" (switched on and so far on it)."""
    search = search.strip()
    if search:
        query = query.join(Mailing.message).filter(
            or_(contains_as_typed(Mailing.name, search), contains_as_typed(Message.subject, search))
        )
    if status == "disabled":
        query = query.filter(Mailing.is_active.is_(False))
    elif status in ("created", "started", "completed"):
        query = query.filter(Mailing.status == status, Mailing.is_active.is_(True))
    return query


def _summaries(run_filter) -> list[tuple[int, RunSummary]]:
    # From the runs' tallies, kept as they send: a run to a million clients is
    # a million deliveries, too many to count for a list page.
    sums = tallies.summed(select(Run.id).where(run_filter))
    rows = db.session.execute(
        select(
            Run.id,
            Run.mailing_id,
            Run.number,
            Run.scheduled_for,
            Run.forced,
            Run.finished_at,
            func.coalesce(sums.c.sent, 0),
            func.coalesce(sums.c.failed + sums.c.unknown, 0),
            Run.total,
            func.coalesce(sums.c.cancelled, 0),
            Run.paused_until,
        )
        .outerjoin(sums, sums.c.run_id == Run.id)
        .where(run_filter)
        .order_by(Run.scheduled_for.desc(), Run.id.desc())
    ).all()
    return [
        (
            mailing_id,
            RunSummary(
                run_id, number, scheduled, forced, finished, *map(int, counts), paused_until
            ),
        )
        for run_id, mailing_id, number, scheduled, forced, finished, *counts, paused_until in rows
    ]


def last_runs(mailing_ids: list[int]) -> dict[int, RunSummary]:
    """The newest run of each mailing with its sent/failed counts: one query."""
    if not mailing_ids:
        return {}
    newest = (
        select(func.max(Run.id)).where(Run.mailing_id.in_(mailing_ids)).group_by(Run.mailing_id)
    )
    return dict(_summaries(Run.id.in_(newest)))


def run_summaries(mailing: Mailing, *, page: int = 1, per_page: int = PER_PAGE):
    """One page of a mailing's runs (newest first) with counts, and the number of runs."""
    total = db.session.scalar(select(func.count(Run.id)).where(Run.mailing_id == mailing.id)) or 0
    page_ids = (
        select(Run.id)
        .where(Run.mailing_id == mailing.id)
        .order_by(Run.scheduled_for.desc(), Run.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return [summary for _id, summary in _summaries(Run.id.in_(page_ids))], total


def client_count(mailing: Mailing) -> int:
    return (
        db.session.scalar(select(func.count()).where(mailing_clients.c.mailing_id == mailing.id))
        or 0
    )


def client_counts(mailing: Mailing) -> tuple[int, int]:
    """How many clients the mailing has, and how many of them get its emails (neither
    unsubscribed nor bounced): one query."""
    total, receiving = db.session.execute(
        select(func.count(), func.count().filter(Client.can_receive))
        .select_from(mailing_clients)
        .join(Client, Client.id == mailing_clients.c.client_id)
        .where(mailing_clients.c.mailing_id == mailing.id)
    ).one()
    return total, receiving


def client_choices(owner: User, mailing: Mailing | None = None):
    """The owner's clients to show as checkboxes, which of them the mailing has, and counts.

    Returns (clients, chosen ids among them, the owner's client count, the mailing's count).
    """
    clients = (
        Client.owned_by(owner)
        .order_by(Client.full_name, Client.email)
        .limit(CLIENT_CHECKBOX_LIMIT)
        .all()
    )
    owner_total = db.session.scalar(
        select(func.count(Client.id)).where(Client.owner_id == owner.id)
    )
    if mailing is None or mailing.id is None:
        return clients, set(), owner_total or 0, 0
    chosen = set(
        db.session.scalars(
            clients_of(mailing.id).where(
                mailing_clients.c.client_id.in_([client.id for client in clients]),
            )
        )
    )
    return clients, chosen, owner_total or 0, client_count(mailing)
