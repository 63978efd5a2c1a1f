"""Clients, messages, mailings, and what sending them produced: runs, deliveries, attempts.

Everything a user owns is read through `owned_by(user)`, the one place that
scopes a query to its owner; a stranger's id then simply is not found (404).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    false,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.delivery.schedule import FREQUENCIES
from mailer.extensions import db
from mailer.models.types import UTCDateTime, utcnow
from mailer.models.users import User

MAILING_STATUSES = ("created", "started", "completed")

# Delivery states. "sending" is written and committed before the SMTP
# transaction starts: a delivery in that state is never sent again, and one
# left there by a killed worker ends as "unknown". "claimed": taken by a
# worker for its next few emails, not started yet (see delivery/ledger.py).
DELIVERY_STATUSES = (
    "pending",
    "retry",
    "claimed",
    "sending",
    "sent",
    "failed",
    "cancelled",
    "unknown",
)
DELIVERY_FINAL = ("sent", "failed", "cancelled", "unknown")


def _owner_column():
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class OwnedMixin:
    """Rows that belong to one user."""

    @classmethod
    def owned_by(cls, user: User):
        return cls.query.filter(cls.owner_id == user.id)


mailing_clients = Table(
    "mailing_clients",
    db.metadata,
    Column("mailing_id", ForeignKey("mailings.id", ondelete="CASCADE"), primary_key=True),
    Column("client_id", ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_mailing_clients_client_id", "client_id"),
)


def clients_of(mailing_id: int) -> Select:
    """The ids of a mailing's clients, a select to read or filter by."""
    return select(mailing_clients.c.client_id).where(mailing_clients.c.mailing_id == mailing_id)


def mailings_of(client_id: int) -> Select:
    """The ids of the mailings a client is in, a select to read or filter by."""
    return select(mailing_clients.c.mailing_id).where(mailing_clients.c.client_id == client_id)


def link_clients():
    """An INSERT into mailing_clients that skips a link already there (ON CONFLICT DO
    NOTHING, on SQLite too). Two saves at once, from two tabs, may link the same client:
    the second waits for the first, then has nothing left to add."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(mailing_clients).on_conflict_do_nothing()


class Client(OwnedMixin, db.Model):
    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("owner_id", "email", name="one_client_per_email"),
        # The client list sorts by name or by date; with a million clients a
        # sort without these indexes takes seconds (the email order uses the key above).
        Index("ix_clients_owner_name", "owner_id", "full_name", "id"),
        Index("ix_clients_owner_created", "owner_id", "created_at", "id"),
        # The list's "unsubscribed" and "bounced" filters: usually a few of a million
        # clients, read in email order here instead of found by reading them all.
        Index(
            "ix_clients_owner_unsubscribed",
            "owner_id",
            "email",
            postgresql_where=text("unsubscribed_at IS NOT NULL"),
            sqlite_where=text("unsubscribed_at IS NOT NULL"),
        ),
        Index(
            "ix_clients_owner_bounced",
            "owner_id",
            "email",
            postgresql_where=text("bounced_at IS NOT NULL"),
            sqlite_where=text("bounced_at IS NOT NULL"),
        ),
        # An unsubscribe link names its client by id: SQLite must never give a deleted
        # client's id to a new one (without AUTOINCREMENT it reuses the highest).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the indexes above all start with owner_id, and a
    # fourth index would only slow the CSV import down.
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Stored lower-cased: unique per owner whatever the case typed.
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last time the client subscribed again by their own link, after unsubscribing.
    resubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hard_bounces: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User] = relationship()

    @hybrid_property
    def can_receive(self) -> bool:
        """Whether mail still reaches the client: neither unsubscribed nor bounced (in a
        query, the same as a condition)."""
        return self.unsubscribed_at is None and self.bounced_at is None

    @can_receive.inplace.expression
    @classmethod
    def _can_receive_expression(cls) -> ColumnElement[bool]:
        return and_(cls.unsubscribed_at.is_(None), cls.bounced_at.is_(None))


# What the client search looks in: the name (lower-cased) and the email, in one
# string so that one trigram index serves both. A search never contains the
# separator (it is taken out of it), so no match spans the two.
CLIENT_SEARCH_SEPARATOR = "\x1f"
_separator = literal_column(f"'{CLIENT_SEARCH_SEPARATOR}'", String)
# `op("||")` rather than `+`: a flat a || b || c list is not tied to its table,
# and the index below needs to be.
client_search_text = (
    func.lower(Client.__table__.c.full_name)
    .op("||", return_type=String)(_separator)
    .op("||", return_type=String)(Client.__table__.c.email)
)
# PostgreSQL only (pg_trgm): a substring search in a million clients reads a
# few index pages instead of every row. SQLite keeps scanning; it would only
# get a B-tree here, useless for LIKE '%...%'.
Index(
    "ix_clients_search",
    client_search_text.label("search_text"),
    postgresql_using="gin",
    postgresql_ops={"search_text": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")


class Message(OwnedMixin, db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = _owner_column()
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship()


NAME_MAX = 200  # characters of a mailing's name


class Mailing(OwnedMixin, db.Model):
    __tablename__ = "mailings"
    __table_args__ = (
        CheckConstraint(f"frequency IN {FREQUENCIES!r}", name="known_frequency"),
        CheckConstraint(f"status IN {MAILING_STATUSES!r}", name="known_status"),
        CheckConstraint("end_at > start_at", name="ends_after_start"),
        Index("ix_mailings_due", "is_active", "next_send_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = _owner_column()
    # What the lists call it; empty: its message's subject (`title`).
    name: Mapped[str] = mapped_column(String(NAME_MAX), default="", server_default="")
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="RESTRICT"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    frequency: Mapped[str] = mapped_column(String(10), default="once")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    is_active: Mapped[bool] = mapped_column(default=True)
    # A client its owner adds later (by hand or by an import) joins its clients.
    takes_new_clients: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(10), default="created")
    # When dispatch should next send it; None when nothing remains.
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    disabled_by: Mapped[User | None] = relationship(foreign_keys=[disabled_by_id])
    message: Mapped[Message] = relationship()
    # Unlinked by ON DELETE CASCADE: the ORM would load every client to unlink them.
    clients: Mapped[list[Client]] = relationship(secondary=mailing_clients, passive_deletes=True)

    @property
    def title(self) -> str:
        """Its name, or its message's subject when it has none."""
        return self.name or self.message.subject

    @property
    def disabled_by_manager(self) -> bool:
        """Disabled by someone other than its owner: only a manager may enable it again.
        Also when that manager's account is gone since (disabled_by_id is then NULL): the
        stop stays theirs, and it was never the owner's, whose mailings go with them.
        (A mailing not saved yet has is_active None: disabled by nobody.)"""
        return self.is_active is False and self.disabled_by_id != self.owner_id

    @property
    def disabled_by_owner(self) -> bool:
        """Turned off by its owner: theirs to enable again, not a manager's."""
        return not self.is_active and self.disabled_by_id == self.owner_id

    def has_clients(self) -> bool:
        return db.session.scalar(clients_of(self.id).limit(1)) is not None

    def has_receiving_clients(self) -> bool:
        """Whether a client of it would get its emails (neither unsubscribed nor bounced)."""
        receiving = select(Client.id).where(Client.id.in_(clients_of(self.id)), Client.can_receive)
        return db.session.scalar(receiving.limit(1)) is not None


def _next_run_number(context) -> int:
    """A new run's number: one more than its mailing's latest (Run.number).

    Read as the run is inserted, so a mailing's runs are flushed one at a time (two in
    one flush would read the same latest). Dispatch's claim and "Send now"'s mark hold
    the mailing until their run commits, so two of them never read the same latest
    either; the unique key one_run_per_number stands behind both.
    """
    runs = context.current_column.table
    mailing_id = context.get_current_parameters()["mailing_id"]
    latest = context.connection.scalar(
        select(func.max(runs.c.number)).where(runs.c.mailing_id == mailing_id)
    )
    return (latest or 0) + 1


class Run(db.Model):
    """One sending of a mailing: scheduled (once per slot) or forced ("send now")."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("mailing_id", "scheduled_for", name="one_run_per_slot"),
        UniqueConstraint("mailing_id", "number", name="one_run_per_number"),
        # "Send now" twice (a double click, two tabs) starts one run, not two.
        Index(
            "one_unfinished_forced_run",
            "mailing_id",
            unique=True,
            postgresql_where=text("forced AND finished_at IS NULL"),
            sqlite_where=text("forced AND finished_at IS NULL"),
        ),
        # Where the per-minute sweeps start (dispatch.requeue_waiting).
        Index(
            "ix_runs_unfinished",
            "id",
            postgresql_where=text("finished_at IS NULL"),
            sqlite_where=text("finished_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailings.id", ondelete="CASCADE"))
    # Its place among the mailing's runs, 1, 2, 3…: what the pages call it ("#3"). The id
    # counts every mailing's runs, so a mailing's own would show gaps.
    number: Mapped[int] = mapped_column(default=_next_run_number)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    forced: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set while the daily sending quota is used up: sending resumes then.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many deliveries dispatch created; what became of them is in RunTally.
    total: Mapped[int] = mapped_column(default=0, server_default="0")
    # The message as it was when the run began, kept while it sends: every client of the
    # run gets the same email, whatever edit is saved meanwhile (the next run sends that).
    # None once it finished, and on runs from before: the sender reads the message then.
    subject: Mapped[str | None] = mapped_column(String(255))
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)

    mailing: Mapped[Mailing] = relationship()

    @classmethod
    def owned_by(cls, user: User):
        return cls.query.join(Mailing).filter(Mailing.owner_id == user.id)

    @classmethod
    def unfinished_ids(cls):
        """A subquery: the ids of the runs still sending (ix_runs_unfinished)."""
        return select(cls.id).where(cls.finished_at.is_(None))


class RunTally(db.Model):
    """Running counts of a run's outcomes, kept in the transaction that changes them.

    A run to a million clients is a million deliveries: counting them for every
    list page would cost a second. Each batch a worker sends gets its own row
    (`shard`: the first delivery id it claims; 0 for writes outside a batch), so
    workers never wait on one another's counter and no row is updated more than
    a batch's worth of times. A run's counts are the sum of its rows
    (mailer/delivery/tallies.py).
    """

    __tablename__ = "run_tallies"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # Attempt rows, and those of them the server accepted.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    successes: Mapped[int] = mapped_column(default=0, server_default="0")
    # Deliveries that reached each final state.
    sent: Mapped[int] = mapped_column(default=0, server_default="0")
    failed: Mapped[int] = mapped_column(default=0, server_default="0")
    unknown: Mapped[int] = mapped_column(default=0, server_default="0")
    cancelled: Mapped[int] = mapped_column(default=0, server_default="0")


class Delivery(db.Model):
    """One client in one run; the unique key makes a second delivery impossible."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # Client first: deleting a client finds its deliveries through this key
        # (runs find theirs through ix_deliveries_run).
        UniqueConstraint("client_id", "run_id", name="one_delivery_per_client_per_run"),
        CheckConstraint(f"status IN {DELIVERY_STATUSES!r}", name="known_status"),
        # No index holds the status: a delivery changes it three times as it is sent
        # (claimed, sending, sent), and PostgreSQL then rewrites the row in place,
        # updating no index. What looks for a status goes through the unfinished runs.
        Index("ix_deliveries_run", "run_id", "id"),
        # Room on each page for those rewrites.
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    tries: Mapped[int] = mapped_column(default=0)
    # A "retry" delivery waits until then (backoff, or the daily quota); None once enqueued.
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    run: Mapped[Run] = relationship()
    client: Mapped[Client] = relationship()


class Attempt(OwnedMixin, db.Model):
    """One try of a delivery, with the mail server's reply (the seed's "попытка рассылки")."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_owner_time", "owner_id", "attempted_at"),
        # The managers' log: everyone's attempts, newest first.
        Index("ix_attempts_time", "attempted_at"),
        # A run's attempts; its latest one at once (the mailing page's "last try failed").
        Index("ix_attempts_run", "run_id", "id"),
        # A bounce reported later counts once per email, however often its report is read
        # (delivery/inbox.py). Partial: the attempts of SMTP conversations skip the index.
        Index(
            "one_report_per_delivery",
            "delivery_id",
            unique=True,
            postgresql_where=text("reported"),
            sqlite_where=text("reported"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The run's owner and mailing, copied: the log is filtered by them on every page.
    # No foreign keys of their own: the run's removes the row with its mailing or owner,
    # and the database checks each key on every email sent (PostgreSQL: ~10 µs apiece).
    owner_id: Mapped[int]
    mailing_id: Mapped[int] = mapped_column(index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    # Indexed so that deleting a client does not scan every attempt to unlink its own.
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(254))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    success: Mapped[bool]
    # The SMTP reply code (None when no reply came: refused, dropped, timed out).
    reply_code: Mapped[int | None]
    REPLY_MAX = 2000  # characters of the server's words kept in `reply`
    reply: Mapped[str] = mapped_column(Text, default="")
    # From a delivery report read in the inbox: the server took the email, then bounced it.
    reported: Mapped[bool] = mapped_column(default=False, server_default=false())

    mailing: Mapped[Mailing] = relationship(primaryjoin="foreign(Attempt.mailing_id) == Mailing.id")
    run: Mapped[Run] = relationship()
    client: Mapped[Client | None] = relationship()


class UnloggedSends(db.Model):
    """Emails handed to the SMTP server on a UTC day that the attempt log does not hold:
    test emails, and the attempts deleted that day with their mailing or its owner. A
    day's sending count made anew (delivery/ratelimit.py) adds them to the log's count,
    so that deleting a mailing and restarting cannot lift the daily limit."""

    __tablename__ = "unlogged_sends"

    day: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # since 1970 (UTC)
    sends: Mapped[int] = mapped_column(default=0)
