"""Writes to mailings: create, update, copy, delete, disable, enable, add or remove clients.

Services flush; the caller commits. Validation that needs the database (the
message and the clients must belong to the mailing's owner) lives here, so a
forged id from another user's data is rejected whatever form sent it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, literal, select

from mailer.delivery import schedule, stopping
from mailer.extensions import db
from mailer.i18n import is_known_timezone
from mailer.mailings.client_queries import clients_query
from mailer.main.stats import counts_changed
from mailer.models import (
    Client,
    Mailing,
    Message,
    Run,
    User,
    clients_of,
    link_clients,
    mailing_clients,
    utcnow,
)

# How the clients of a mailing are chosen. "keep" leaves them as they are
# (editing a mailing whose list is too long to show as checkboxes).
CLIENT_SCOPES = ("chosen", "all", "search", "keep")
_INSTANT = timedelta(microseconds=1)  # a slot is the first one after the instant before it


class MailingError(ValueError):
    """Bad input found by a service; `field` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ClientSelection:
    scope: str = "chosen"
    ids: list[int] = field(default_factory=list)
    search: str = ""
    # On an edit, the clients the form showed as boxes (the first few hundred of the
    # owner's): "chosen" then changes only these, ticked in and unticked out, and the
    # mailing's clients not shown stay in it. None: the mailing gets exactly `ids`.
    shown: list[int] | None = None


@dataclass(frozen=True)
class MailingData:
    message_id: int | None
    clients: ClientSelection
    start_at: datetime
    end_at: datetime
    frequency: str
    timezone: str
    is_active: bool = True
    name: str = ""
    takes_new_clients: bool = False


def local_to_utc(local: datetime, tz: str) -> datetime:
    """A naive local date-time typed in a form, read in time zone `tz`, as aware UTC."""
    return local.replace(tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def utc_to_local(moment: datetime, tz: str) -> datetime:
    """An aware datetime as the naive wall-clock time a date-time input shows."""
    return moment.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def exists_in_zone(local: datetime, tz: str) -> bool:
    """False for a wall-clock time the clocks skip in `tz` (02:30 as they go forward)."""
    return utc_to_local(local_to_utc(local, tz), tz) == local


def create_mailing(
    *, owner: User, data: MailingData, now: datetime | None = None, allow_past: bool = False
) -> Mailing:
    """A new mailing; one whose whole schedule has passed is refused, unless `allow_past`
    (the demo's completed mailing, given its past runs next)."""
    mailing = Mailing(owner_id=owner.id, owner=owner)
    now = now or utcnow()
    _apply(mailing, data, now, has_runs=False)
    if not allow_past:
        _check_sends(mailing, now)
    db.session.add(mailing)
    db.session.flush()
    _set_clients(mailing, data.clients)
    counts_changed(owner.id)
    return mailing


def update_mailing(*, mailing: Mailing, data: MailingData, now: datetime | None = None) -> Mailing:
    """Save an edit; a mailing that has never sent must keep a send ahead, as a new one
    must (a typo in the year would end it unsent). One that has sent may be ended early."""
    has_runs = _has_runs(mailing.id)
    now = now or utcnow()
    was_active = mailing.is_active
    _apply(mailing, data, now, has_runs=has_runs)
    if not has_runs:
        _check_sends(mailing, now)
    db.session.flush()
    if was_active and not mailing.is_active:
        stopping.stop_unfinished_runs([mailing.id])  # as Disable does
    _set_clients(mailing, data.clients)
    if data.clients.shown is not None and not mailing.has_clients():
        raise MailingError("client_ids", _l("Choose at least one client."))
    if has_runs and data.clients.scope != "keep":
        stopping.cancel_dropped_clients(mailing.id)  # a send in progress skips them too
    counts_changed(mailing.owner_id)
    return mailing


def copy_mailing(*, mailing: Mailing, name: str, now: datetime | None = None) -> Mailing:
    """A copy with the same message, clients (and whether it takes new ones) and schedule,
    named `name` (at most NAME_MAX: the route shortens it), that sends nothing until its
    owner enables it: they check its times first. A mailing a manager disabled is not
    copied, since its copy would undo the manager's stop."""
    if mailing.disabled_by_manager:
        raise MailingError("is_active", _l("A manager disabled this mailing; it cannot be copied."))
    now = now or utcnow()
    copy = Mailing(
        owner_id=mailing.owner_id,
        owner=mailing.owner,
        name=name,
        message_id=mailing.message_id,
        start_at=mailing.start_at,
        end_at=mailing.end_at,
        frequency=mailing.frequency,
        timezone=mailing.timezone,
        takes_new_clients=mailing.takes_new_clients,
        is_active=False,
        disabled_by=mailing.owner,
        disabled_at=now,
    )
    _schedule(copy, now, has_runs=False)
    db.session.add(copy)
    db.session.flush()
    same_clients = select(literal(copy.id), mailing_clients.c.client_id).where(
        mailing_clients.c.mailing_id == mailing.id
    )
    db.session.execute(
        insert(mailing_clients).from_select(["mailing_id", "client_id"], same_clients)
    )
    counts_changed(copy.owner_id)
    return copy


def add_clients(*, mailing: Mailing, client_ids: Collection[int]) -> int:
    """Add those of `client_ids` that are the owner's clients and not in the mailing yet;
    returns how many. A send in progress goes on without them; the next one reaches them."""
    new = select(literal(mailing.id), Client.id).where(
        Client.owner_id == mailing.owner_id,
        Client.id.in_(set(client_ids)),
        Client.id.not_in(clients_of(mailing.id)),
    )
    return db.session.execute(link_clients().from_select(["mailing_id", "client_id"], new)).rowcount


def remove_clients(*, mailing: Mailing, client_ids: list[int]) -> int:
    """Take clients out of a mailing (they stay the owner's clients); how many were in it.
    A send in progress goes on without them, apart from an email already on its way."""
    removed = db.session.execute(
        delete(mailing_clients).where(
            mailing_clients.c.mailing_id == mailing.id,
            mailing_clients.c.client_id.in_(set(client_ids)),
        )
    ).rowcount
    if removed:
        stopping.cancel_dropped_clients(mailing.id)
    return removed


def delete_mailing(*, mailing: Mailing) -> None:
    """Delete a mailing; the foreign keys' ON DELETE rules take its links to clients,
    its runs, their deliveries and attempts along."""
    db.session.delete(mailing)
    db.session.flush()
    counts_changed(mailing.owner_id)


def disable_mailing(*, mailing: Mailing, by: User, now: datetime | None = None) -> Mailing:
    """Stop a mailing sending; remembers who did it and when. Disabling twice keeps the first."""
    if mailing.is_active:
        mailing.is_active = False
        mailing.disabled_by = by
        mailing.disabled_at = now or utcnow()
        db.session.flush()
        stopping.stop_unfinished_runs([mailing.id])
        counts_changed(mailing.owner_id)
    return mailing


def enable_mailing(*, mailing: Mailing, by: User, now: datetime | None = None) -> Mailing:
    """Let a mailing send again from now on: the slots missed while disabled are skipped.

    A mailing a manager disabled stays disabled for its owner: the manager's
    decision is not theirs to undo. Nor is the owner's a manager's: a mailing its
    owner turned off is theirs to turn on (a manager's screen only stops mail).
    A mailing that never sent (a copy, say) must keep a send ahead, as when its
    form is saved: MailingError otherwise, with the mailing changed (roll back).
    """
    if by.id == mailing.owner_id:
        _check_not_disabled_by_manager(mailing)
    elif mailing.disabled_by_owner:
        raise MailingError(
            "is_active", _l("Its owner disabled this mailing; only they can enable it again.")
        )
    if not mailing.is_active:
        now = now or utcnow()
        has_runs = _has_runs(mailing.id)
        mailing.is_active = True
        mailing.disabled_by = None
        mailing.disabled_at = None
        _schedule(mailing, now, has_runs=has_runs)
        if not has_runs:
            _check_sends(mailing, now)
        db.session.flush()
        counts_changed(mailing.owner_id)
    return mailing


def resume_after_block(owner: User, now: datetime | None = None) -> None:
    """The owner is unblocked: their active mailings send from now on, the slots missed
    while they were blocked skipped, as after Enable. Flushes."""
    now = now or utcnow()
    missed = Mailing.owned_by(owner).filter(Mailing.is_active.is_(True), Mailing.next_send_at < now)
    for mailing in missed:
        _schedule(mailing, now, has_runs=mailing.status != "created")
    db.session.flush()


# -- helpers ------------------------------------------------------------------


def _apply(mailing: Mailing, data: MailingData, now: datetime, *, has_runs: bool) -> None:
    _validate(mailing.owner, data)
    # A send whose time came and that dispatch has not taken: kept if the edit keeps it on.
    was_due = mailing.is_active and mailing.next_send_at is not None and mailing.next_send_at <= now
    due = mailing.next_send_at if was_due and data.is_active else None
    mailing.name = data.name.strip()
    mailing.message_id = data.message_id
    mailing.start_at = data.start_at
    mailing.end_at = data.end_at
    mailing.frequency = data.frequency
    mailing.timezone = data.timezone
    mailing.takes_new_clients = data.takes_new_clients
    if data.is_active:
        _check_not_disabled_by_manager(mailing)
    if data.is_active != mailing.is_active or mailing.id is None:
        mailing.is_active = data.is_active
        mailing.disabled_by = None if data.is_active else mailing.owner
        mailing.disabled_at = None if data.is_active else now
    _schedule(mailing, now, has_runs=has_runs, due=due)


def _check_sends(mailing: Mailing, now: datetime) -> None:
    """MailingError, at the field to change, when the schedule leaves no send."""
    if mailing.status != "completed":
        return
    if mailing.frequency == "once":  # it sends at its start or never, whatever its end
        raise MailingError(
            "start_at",
            _l("The start has passed: this mailing would never send. Choose a later start."),
        )
    if mailing.end_at <= now:
        raise MailingError(
            "end_at", _l("The end has passed: this mailing would never send. Choose a later end.")
        )
    raise MailingError(
        "end_at",
        _l(
            "No send time is left before the end: this mailing would never send."
            " Choose a later end."
        ),
    )


def _check_not_disabled_by_manager(mailing: Mailing) -> None:
    if mailing.disabled_by_manager:
        raise MailingError(
            "is_active",
            _l("A manager disabled this mailing; only a manager can enable it again."),
        )


def _schedule(
    mailing: Mailing, now: datetime, *, has_runs: bool, due: datetime | None = None
) -> None:
    """Status and next send time from the schedule: `completed` when no send remains.

    `due`: a send whose time came and that dispatch has not taken yet (an edit while the
    scheduler is away, or in the minute before its tick): it stays when the schedule
    still has it, as the mailing's page promised. A slot that has its run already (an
    edit or Enable in the minute after a start that sent) is not set again."""
    times = {"start_at": mailing.start_at, "end_at": mailing.end_at}
    times |= {"frequency": mailing.frequency, "tz": mailing.timezone}
    next_send = schedule.first_send_time(**times, now=now)
    still_due = due is not None and schedule.next_send_time(**times, after=due - _INSTANT) == due
    if still_due and (next_send is None or due < next_send):
        next_send = due
    while next_send is not None and mailing.id is not None and _has_its_run(mailing.id, next_send):
        next_send = schedule.next_send_time(**times, after=next_send)
    mailing.next_send_at = next_send
    if mailing.next_send_at is None:
        mailing.status = "completed"
    else:
        mailing.status = "started" if has_runs else "created"


def _has_runs(mailing_id: int) -> bool:
    first = db.session.scalar(select(Run.id).where(Run.mailing_id == mailing_id).limit(1))
    return first is not None


def _has_its_run(mailing_id: int, slot: datetime) -> bool:
    scheduled = select(Run.id).where(
        Run.mailing_id == mailing_id, Run.scheduled_for == slot, Run.forced.is_(False)
    )
    return db.session.scalar(scheduled.limit(1)) is not None


def _validate(owner: User, data: MailingData) -> None:
    if data.frequency not in schedule.FREQUENCIES:
        raise MailingError("frequency", _l("Choose how often the mailing is sent."))
    if not is_known_timezone(data.timezone):
        raise MailingError("timezone", _l("Unknown time zone: %(tz)s.", tz=data.timezone))
    if data.end_at <= data.start_at:
        raise MailingError("end_at", _l("The end must be after the start."))
    owned_message = (
        data.message_id is not None
        and Message.owned_by(owner).filter(Message.id == data.message_id).first() is not None
    )
    if not owned_message:
        raise MailingError("message_id", _l("Choose one of your messages."))
    check_clients(owner, data.clients)


def check_clients(owner: User, selection: ClientSelection) -> None:
    """MailingError unless `selection` reaches some of the owner's clients and only theirs."""
    if selection.scope not in CLIENT_SCOPES:
        raise MailingError("client_scope", _l("Choose which clients receive the mailing."))
    if selection.scope == "chosen":
        # With `shown`, unticking every box shown may leave others: checked once saved.
        _check_client_ids(owner, selection.ids, some=selection.shown is None)
    if selection.scope == "search":
        if not selection.search.strip():
            raise MailingError("client_search", _l("Type a search to choose clients by."))
        if not _exists(clients_query(owner, search=selection.search)):
            raise MailingError(
                "client_search",
                _l("No client matches this search: the mailing would reach no one."),
            )
    if selection.scope == "all" and not _exists(Client.owned_by(owner)):
        raise MailingError("client_scope", _l("You have no clients yet: add some first."))


def _exists(query) -> bool:
    return db.session.query(query.order_by(None).exists()).scalar()


def _check_client_ids(owner: User, ids: list[int], *, some: bool) -> None:
    unique = set(ids)
    if some and not unique:
        raise MailingError("client_ids", _l("Choose at least one client."))
    found = (
        db.session.scalar(
            select(func.count(Client.id)).where(Client.owner_id == owner.id, Client.id.in_(unique))
        )
        or 0
    )
    if found != len(unique):
        raise MailingError("client_ids", _l("Some chosen clients are not yours."))


def _set_clients(mailing: Mailing, selection: ClientSelection) -> None:
    """Replace the mailing's clients in SQL: "all my clients" may be a million rows."""
    if selection.scope == "keep":
        return
    if selection.scope == "search":
        # The same clients the client list shows for this search.
        owned = clients_query(mailing.owner, search=selection.search).order_by(None)
    else:
        owned = Client.owned_by(mailing.owner)
    if selection.scope == "chosen":
        owned = owned.filter(Client.id.in_(set(selection.ids)))
    chosen = owned.with_entities(literal(mailing.id), Client.id).statement
    dropped = delete(mailing_clients).where(mailing_clients.c.mailing_id == mailing.id)
    if selection.scope == "chosen" and selection.shown is not None:
        # Only the boxes the form showed: the unticked ones out, the ticked ones in.
        unticked = set(selection.shown) - set(selection.ids)
        dropped = dropped.where(mailing_clients.c.client_id.in_(unticked))
    db.session.execute(dropped)
    db.session.execute(link_clients().from_select(["mailing_id", "client_id"], chosen))
    db.session.expire(mailing, ["clients"])
