"""How the sender writes a delivery's state: safely, and on PostgreSQL fast.

The rule (invariant 1): a delivery is marked "sending" in the database before
its SMTP transaction, so nothing sends it again. The outcome of one email is
written together with the "sending" mark of the next: one transaction per
email.

`SessionLedger` (SQLite, and the reference) commits each of those
transactions durably. On PostgreSQL a durable commit costs a disk flush
(about a millisecond here) per email, more than building the email, so
`PostgresLedger` does this instead:

1. it claims the next few deliveries (CLAIM_CHUNK) with one durable commit:
   pending -> "claimed";
2. each email's transaction (the previous outcome, its attempt row, and
   claimed -> "sending") is one prepared statement in one round trip,
   committed with `synchronous_commit = off`: PostgreSQL applies it at once,
   in order, and writes it to disk within a fraction of a second. The
   round trip is asynchronous: the sender builds the next email while the
   database works, and writes this email's message only once the answer
   says the mark was made (`begin_start`, then `started`);
3. the end of a batch is committed durably.

The ledger has a connection of its own (psycopg2's asynchronous mode), kept
by the process from batch to batch (ledger_connection.py). The statements
are prepared on it, so workers need PostgreSQL itself or a PgBouncer in
session mode, not transaction mode.

Whatever settles a delivery or records an attempt also adds to the run's
tally (tallies.py) in the same transaction, so the counts the pages show are
exactly what the rows say.

A deletion can deadlock with an email's round trip (mailer/deadlocks.py says
how). When PostgreSQL rolls back the round trip, the ledger sends it again
(`_wait`): each of its statements changes only the state it expects, and
the rollback undid them all, so sending it again does each once.

A killed *worker* loses nothing: what PostgreSQL acknowledged is there, so
only the email truly in flight is left "sending" (-> "unknown") and its
still "claimed" neighbours are sent after the restart. A crash of the
*database server* may lose the last unflushed marks; a "claimed" delivery
older than the server's start is therefore treated as "unknown", never
resent (`recover_claimed`). Either way no client receives a run twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from psycopg2.errors import DeadlockDetected
from sqlalchemy import case, insert, select, text, update

from mailer.deadlocks import DEADLOCK_RETRIES
from mailer.delivery import tallies
from mailer.delivery.ledger_connection import forget, kept_connection, wait
from mailer.delivery.stopping import WAITING
from mailer.extensions import db
from mailer.models import Attempt, Client, Delivery, Run

log = logging.getLogger(__name__)

CLAIM_CHUNK = 250  # deliveries claimed in one durable commit; the stop check runs between


class SessionLedger:
    """One durable transaction per email through the SQLAlchemy session.

    Each write that settles a delivery also adds to the run's tally (tallies.py)
    in the same transaction; SQLite has one writer, so one tally row will do.
    """

    def __init__(self, hard_bounce_limit: int, run_id: int) -> None:
        self.limit = hard_bounce_limit
        self.run_id = run_id
        self._started = False

    def claim(self, ids: list[int], now: datetime) -> list[int]:
        return ids  # each delivery is claimed by `begin_start`

    def begin_start(self, delivery_id: int, now: datetime) -> None:
        """Mark the delivery "sending" (with the previous email's outcome); `started()`
        then tells whether it was still this batch's to send. Here both happen at once;
        PostgresLedger lets the caller work while the database does it."""
        started = db.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status.in_(WAITING))
            .values(status="sending", tries=Delivery.tries + 1, next_try_at=None, updated_at=now)
        ).rowcount
        db.session.commit()  # with it, the previous email's outcome
        self._started = started == 1

    def started(self) -> bool:
        """Whether the last `begin_start` marked its delivery: only then may it be sent."""
        return self._started

    def settle(self) -> None:
        """Commit the last outcome now, not with the next mark: the sender is about to wait
        (for the rate limit), and SQLite's one write lock must not be held meanwhile."""
        db.session.commit()

    def outcome(self, delivery_id, status, next_try_at, now, attempt, bounce: bool) -> None:
        settled = db.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "sending")
            .values(status=status, next_try_at=next_try_at, updated_at=now)
        ).rowcount
        if not settled:
            attempt = _without_the_deleted(attempt)
            if attempt is None:
                return  # the run was deleted with its mailing: nothing to log or count
        db.session.execute(insert(Attempt), [attempt])
        final = {status: settled} if status in ("sent", "failed") else {}
        tallies.add(self.run_id, attempts=1, successes=int(attempt["success"]), **final)
        if bounce:
            db.session.execute(
                hard_bounce(attempt["client_id"], attempt["recipient"], now, self.limit)
            )

    def unknown(self, delivery_id: int, now: datetime, attempt: dict) -> bool:
        changed = db.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "sending")
            .values(status="unknown", updated_at=now)
        ).rowcount
        if changed:
            db.session.execute(insert(Attempt), [attempt])
            tallies.add(self.run_id, attempts=1, unknown=1)
        return changed == 1

    def cancel(self, ids: list[int], now: datetime) -> None:
        """Waiting deliveries that will not be sent (the client unsubscribed or bounced)."""
        if ids:
            cancelled = db.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status.in_(WAITING))
                .values(status="cancelled", updated_at=now)
            ).rowcount
            tallies.add(self.run_id, cancelled=cancelled)

    def set_status(self, ids: list[int], current: tuple[str, ...], values: dict) -> None:
        """A change between unfinished states (to "retry", back to "pending"), or of the time
        alone (a long batch keeping its waiting deliveries fresh): not tallied."""
        if ids:
            db.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status.in_(current))
                .values(**values)
            )

    def pause_run(self, run_id: int, until: datetime) -> None:
        db.session.execute(update(Run).where(Run.id == run_id).values(paused_until=until))

    def finish(self, unstarted: list[int], now: datetime) -> None:
        db.session.commit()


# Prepared once per database connection: planning these costs more than running them.
# $1-$12: an email's outcome and its attempt row, $13 its tally row (the batch's shard);
# mailer_step adds $14, the next delivery. The outcome counts only if the delivery was
# still "sending"; the attempt always, but links only what still exists: a client deleted
# while their email was on its way leaves it in the log without them (as the ON DELETE
# rules leave their earlier ones), a run deleted with its mailing leaves nothing. FOR KEY
# SHARE makes a deletion committed meanwhile count as done, not fail the foreign key check.
# The row that outcome updated cannot be locked again by the same statement: its id comes
# from RETURNING.
_OUTCOME = """
WITH outcome AS (
    UPDATE deliveries SET status = $1, next_try_at = $2, updated_at = $3
    WHERE id = $4 AND status = 'sending' RETURNING id, status),
attempt AS (
    INSERT INTO attempts (owner_id, mailing_id, run_id, delivery_id, client_id, recipient,
                          attempted_at, success, reply_code, reply)
    SELECT $5, $6, $7,
           COALESCE((SELECT id FROM outcome),
                    (SELECT id FROM deliveries WHERE id = $4 FOR KEY SHARE)),
           (SELECT id FROM clients WHERE id = $8 FOR KEY SHARE), $9, $3, $10, $11, $12
    FROM runs WHERE id = $7 FOR KEY SHARE),
tally AS (
    UPDATE run_tallies SET attempts = attempts + 1, successes = successes + $10::int,
        sent = sent + (SELECT count(*) FROM outcome WHERE status = 'sent'),
        failed = failed + (SELECT count(*) FROM outcome WHERE status = 'failed')
    WHERE run_id = $7 AND shard = $13)
"""
_OUTCOME_TYPES = (
    "text, timestamptz, timestamptz, int, int, int, int, int, text, bool, int, text, int"
)
_PREPARE = f"""
PREPARE mailer_outcome ({_OUTCOME_TYPES}) AS
{_OUTCOME}
SELECT 1;

PREPARE mailer_start (timestamptz, int) AS
UPDATE deliveries SET status = 'sending', tries = tries + 1, next_try_at = NULL, updated_at = $1
WHERE id = $2 AND status = 'claimed' RETURNING id;

PREPARE mailer_step ({_OUTCOME_TYPES}, int) AS
{_OUTCOME}
UPDATE deliveries SET status = 'sending', tries = tries + 1, next_try_at = NULL, updated_at = $3
WHERE id = $14 AND status = 'claimed' RETURNING id;
"""  # noqa: S608 - built from the constants above
_ASYNCHRONOUS_COMMIT = b"SET LOCAL synchronous_commit TO OFF;"
# Settled outside a batch's claims (unknown, cancelled): tally row 0, created if need be.
_TALLY_UNKNOWN = (
    "INSERT INTO run_tallies (run_id, shard, attempts, unknown) VALUES (%s, 0, 1, 1)"
    " ON CONFLICT (run_id, shard) DO UPDATE"
    " SET attempts = run_tallies.attempts + 1, unknown = run_tallies.unknown + 1"
)
_CANCEL = (
    "WITH cancelled AS (UPDATE deliveries SET status = 'cancelled', updated_at = %s"
    " WHERE id = ANY(%s) AND status IN ('pending', 'retry') RETURNING 1)"
    " INSERT INTO run_tallies (run_id, shard, cancelled) SELECT %s, 0, count(*) FROM cancelled"
    " ON CONFLICT (run_id, shard) DO UPDATE"
    " SET cancelled = run_tallies.cancelled + EXCLUDED.cancelled"
)


class PostgresLedger(SessionLedger):
    """Chunks claimed durably; each email's marks in one asynchronous round trip.

    The ledger works on a connection of its own in autocommit mode: each
    round trip is one multi-statement query, which PostgreSQL runs as one
    transaction, so the writes of an email cost one round trip instead of
    three (BEGIN, the writes, COMMIT). Each batch has its own tally row
    (shard: its first claimed delivery id), created with its first claim, so
    two workers never wait on each other's counts.
    """

    def __init__(self, hard_bounce_limit: int, run_id: int) -> None:
        super().__init__(hard_bounce_limit, run_id)
        self.connection = kept_connection(_PREPARE)
        self.cursor = self.connection.cursor()
        self.sql: list[bytes] = []
        self.shard = tallies.OUTSIDE_A_BATCH
        self.outcome_args: tuple | None = None  # the last outcome, written with the next mark
        self.start_sent = False  # a mark is on its way: `started()` reads its answer
        self.in_flight = b""  # the round trip whose answer `_wait` reads, to send it again

    def claim(self, ids: list[int], now: datetime) -> list[int]:
        if not ids:
            return []
        self._queue_outcome()
        if self.shard == tallies.OUTSIDE_A_BATCH:  # the batch's first claim makes its row
            self.shard = ids[0]
            self.sql.append(
                self.cursor.mogrify(
                    "INSERT INTO run_tallies (run_id, shard) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (self.run_id, self.shard),
                )
            )
        self.sql.append(
            self.cursor.mogrify(
                "UPDATE deliveries SET status = 'claimed', updated_at = %s"
                " WHERE id = ANY(%s) AND status IN ('pending', 'retry')"
                " AND (next_try_at IS NULL OR next_try_at <= %s) RETURNING id",
                (now, ids, now),
            )
        )
        return sorted(row[0] for row in self._run_pending())

    def begin_start(self, delivery_id: int, now: datetime) -> None:
        """Send the mark (and the previous outcome) without waiting for the answer.

        PostgreSQL applies it at once, in order, and writes it to disk a moment
        later (`synchronous_commit = off`): see the module's docstring.
        """
        self._drain()
        if self.outcome_args is None:
            statement = self.cursor.mogrify("EXECUTE mailer_start (%s, %s)", (now, delivery_id))
        else:
            statement = self.cursor.mogrify(
                "EXECUTE mailer_step (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*self.outcome_args, delivery_id),
            )
            self.outcome_args = None
        self.sql.append(statement)
        self._send(_ASYNCHRONOUS_COMMIT + b";".join(self.sql))
        self.sql.clear()
        self.start_sent = True

    def settle(self) -> None:
        """Nothing to do: the last outcome waits in memory, holding no lock, and goes with
        the next mark."""

    def started(self) -> bool:
        if self.start_sent:
            self.start_sent, self._started = False, False  # unless the answer says so
            self._wait()
            self._started = bool(self.cursor.fetchall())
        return self._started

    def _drain(self) -> None:
        """Read the answer to a mark still on its way, so the connection is free."""
        self.started()

    def outcome(self, delivery_id, status, next_try_at, now, attempt, bounce: bool) -> None:
        self._queue_outcome()
        self.outcome_args = (
            status,
            next_try_at,
            now,
            delivery_id,
            attempt["owner_id"],
            attempt["mailing_id"],
            attempt["run_id"],
            attempt["client_id"],
            attempt["recipient"],
            attempt["success"],
            attempt["reply_code"],
            attempt["reply"],
            self.shard,
        )
        if bounce:
            self.sql.append(
                self.cursor.mogrify(
                    "UPDATE clients SET hard_bounces = hard_bounces + 1, bounced_at = CASE"
                    " WHEN bounced_at IS NULL AND hard_bounces + 1 >= %s THEN %s"
                    " ELSE bounced_at END WHERE id = %s AND email = %s",
                    (self.limit, now, attempt["client_id"], attempt["recipient"]),
                )
            )

    def unknown(self, delivery_id: int, now: datetime, attempt: dict) -> bool:
        self._run_pending()
        self._execute(
            "UPDATE deliveries SET status = 'unknown', updated_at = %s"
            " WHERE id = %s AND status = 'sending'",
            (now, delivery_id),
        )
        changed = self.cursor.rowcount == 1
        if changed:
            self._attempt(attempt)
            self.sql.append(self.cursor.mogrify(_TALLY_UNKNOWN, (self.run_id,)))
        self._run_pending()
        return changed

    def cancel(self, ids: list[int], now: datetime) -> None:
        if not ids:
            return
        self.sql.append(self.cursor.mogrify(_CANCEL, (now, ids, self.run_id)))

    def set_status(self, ids: list[int], current: tuple[str, ...], values: dict) -> None:
        if not ids:
            return
        columns = ", ".join(f"{name} = %({name})s" for name in values)
        self.sql.append(
            self.cursor.mogrify(
                f"UPDATE deliveries SET {columns}"  # noqa: S608 - column names are ours
                " WHERE id = ANY(%(ids)s) AND status = ANY(%(current)s)",
                {**values, "ids": ids, "current": list(current)},
            )
        )

    def pause_run(self, run_id: int, until: datetime) -> None:
        self.sql.append(
            self.cursor.mogrify("UPDATE runs SET paused_until = %s WHERE id = %s", (until, run_id))
        )

    def finish(self, unstarted: list[int], now: datetime) -> None:
        try:
            self.set_status(unstarted, ("claimed",), {"status": "pending", "updated_at": now})
            self._run_pending()
        except BaseException:
            forget(self.connection)  # in an unknown state: the next batch connects anew
            raise
        else:
            self.cursor.close()  # the connection stays open for the next batch

    def _attempt(self, attempt: dict) -> None:
        self.sql.append(
            self.cursor.mogrify(
                "INSERT INTO attempts (owner_id, mailing_id, run_id, delivery_id, client_id,"
                " recipient, attempted_at, success, reply_code, reply) VALUES"
                " (%(owner_id)s, %(mailing_id)s, %(run_id)s, %(delivery_id)s, %(client_id)s,"
                " %(recipient)s, %(attempted_at)s, %(success)s, %(reply_code)s, %(reply)s)",
                attempt,
            )
        )

    def _queue_outcome(self) -> None:
        if self.outcome_args is not None:
            self.sql.append(
                self.cursor.mogrify(
                    "EXECUTE mailer_outcome (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    self.outcome_args,
                )
            )
            self.outcome_args = None

    def _run_pending(self) -> list:
        """Send the queued statements as one round trip, one transaction, committed to
        disk before it returns; returns the last statement's rows."""
        self._drain()
        self._queue_outcome()
        if not self.sql:
            return []
        self._send(b";".join(self.sql))
        self.sql.clear()
        self._wait()
        return self.cursor.fetchall() if self.cursor.description else []

    def _execute(self, sql: str, parameters: tuple) -> None:
        self._send(self.cursor.mogrify(sql, parameters))
        self._wait()

    def _send(self, sql: bytes) -> None:
        """One round trip, one transaction; its answer is read by `_wait`."""
        self.in_flight = sql
        self.cursor.execute(sql)

    def _wait(self) -> None:
        """Until the answer comes; sends the round trip again if PostgreSQL rolled it back
        to break a deadlock (see the module's docstring)."""
        for retry in range(1, DEADLOCK_RETRIES + 1):
            try:
                wait(self.connection)
                return
            except DeadlockDetected:
                log.warning(
                    "run %s: PostgreSQL rolled back the ledger's writes to break a deadlock"
                    " (a deletion at the same moment); sending them again (%d of %d)",
                    self.run_id,
                    retry,
                    DEADLOCK_RETRIES,
                )
                self.cursor.execute(self.in_flight)
        wait(self.connection)


def ledger_for_engine(hard_bounce_limit: int, run_id: int) -> SessionLedger:
    if db.engine.dialect.name == "postgresql":
        return PostgresLedger(hard_bounce_limit, run_id)
    return SessionLedger(hard_bounce_limit, run_id)


def database_started_at() -> datetime | None:
    """When the database server last started (PostgreSQL); None elsewhere."""
    if db.engine.dialect.name != "postgresql":
        return None
    return db.session.scalar(text("SELECT pg_postmaster_start_time()"))


def recover_claimed(stall_cutoff: datetime) -> None:
    """Stale "claimed" deliveries go back to "pending" (their worker died before sending),
    or, claimed before the database server last started, to "sending": their mark may have
    been lost in the crash, so they end "unknown" like any stale "sending" one. Commits.
    """
    rows = db.session.execute(
        select(Delivery.id, Delivery.run_id, Delivery.client_id, Delivery.updated_at).where(
            Delivery.run_id.in_(Run.unfinished_ids()),
            Delivery.status == "claimed",
            Delivery.updated_at < stall_cutoff,
        )
    ).all()
    started_at = database_started_at()
    lost = [r for r in rows if started_at is not None and r.updated_at < started_at]
    kept = [r.id for r in rows if r not in lost]
    # updated_at is kept: the stalled-delivery pass right after picks them up.
    for ids, status in ((kept, "pending"), ([r.id for r in lost], "sending")):
        if ids:
            db.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status == "claimed")
                # Naming updated_at keeps it: the column's onupdate would set it to now.
                .values(status=status, updated_at=Delivery.updated_at)
                .execution_options(synchronize_session=False)
            )
    db.session.commit()


def _without_the_deleted(attempt: dict) -> dict | None:
    """The attempt of a delivery no longer "sending", unlinked from what was deleted while
    its email was on its way, as _OUTCOME does on PostgreSQL; None if the run is gone. On
    SQLite the UPDATE before this holds the write lock: nothing is deleted meanwhile."""

    def exists(model, row_id: int) -> bool:
        return db.session.scalar(select(model.id).where(model.id == row_id)) is not None

    if not exists(Run, attempt["run_id"]):
        return None
    return {
        **attempt,
        "client_id": attempt["client_id"] if exists(Client, attempt["client_id"]) else None,
        "delivery_id": attempt["delivery_id"] if exists(Delivery, attempt["delivery_id"]) else None,
    }


def hard_bounce(client_id: int, address: str, now: datetime, limit: int):
    """A permanent failure of the client's `address`: one more hard bounce, and the client
    marked bounced when they reach `limit` (an SMTP 5xx, or a bounce report read later).
    Nothing if the client's address changed since: the bounce was the old address's."""
    return (
        update(Client)
        .where(Client.id == client_id, Client.email == address)
        .values(
            hard_bounces=Client.hard_bounces + 1,
            bounced_at=case(
                (Client.bounced_at.is_(None) & (Client.hard_bounces + 1 >= limit), now),
                else_=Client.bounced_at,
            ),
        )
    )
