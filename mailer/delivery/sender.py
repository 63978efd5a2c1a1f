"""Sending one batch of a run's deliveries: one SMTP connection, one email per client.

The rules that keep a client from receiving a run twice (invariant 1):

- a delivery is marked by a conditional UPDATE (pending/retry -> sending;
  on PostgreSQL by way of "claimed", see ledger.py) committed *before* the
  SMTP transaction; a second job or worker finds it taken and leaves it alone;
- a delivery still "sending" after SEND_STALL_SECONDS belonged to a worker
  that died mid-transaction: it becomes "unknown" (with an attempt row that
  says so) and is never sent again;
- the outcome of one delivery is committed together with the claim of the
  next one, so a crash between them leaves at most the one email in flight
  "sending";
- with a PIPELINING server the next email's MAIL, RCPT and DATA go out behind
  the current message, before its mark: an envelope delivers nothing, its
  message is written only after the mark is committed.

On PostgreSQL the mark is sent without waiting for its answer: the next
email is built while the database writes it (`_Ahead`), and the message
goes out once the answer says the delivery is this batch's.

Every try is an Attempt row with the server's reply (invariant 2). A
temporary failure (4xx, dropped) waits as "retry" with exponential backoff and
jitter until SEND_MAX_ATTEMPTS; a permanent one (5xx) fails at once and counts
a hard bounce, at HARD_BOUNCE_LIMIT marking the client bounced (invariant 7),
unless it is the server's policy (5.7.x): that bounces nobody, and to RCPT TO it
is retried as a temporary one.
A server that cannot be reached, or refuses mailer itself, fails no client: see
`_record`. Before each batch, and before each chunk of
deliveries within it (as many as it sends in about a second, at most
CLAIM_CHUNK), the mailing must still be active and its owner not blocked,
or the run's remaining deliveries are cancelled (invariant 6): a stop takes
effect after at most one chunk in flight.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from mailer.delivery.ledger import CLAIM_CHUNK, SessionLedger, ledger_for_engine
from mailer.delivery.mime import MessageBuilder, message_id_key
from mailer.delivery.ratelimit import (
    DayQuotaUsed,
    RateLimiter,
    WaitCalledOff,
    limiter_from_config,
)
from mailer.delivery.render import ClientContext, compile_message
from mailer.delivery.stopping import WAITING, cancel_remaining, finish_if_done
from mailer.delivery.transport import Reply, transport_from_config
from mailer.delivery.unsubscribe import token_maker, unsubscribe_token
from mailer.extensions import db
from mailer.models import (
    Attempt,
    Client,
    Delivery,
    Mailing,
    Message,
    Run,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

# A batch claims a first few deliveries, then as many as it sent in STOP_CHECK_SECONDS
# (at most CLAIM_CHUNK), and checks between chunks that it may go on (_next_chunk).
FIRST_CHUNK = 10
STOP_CHECK_SECONDS = 1.0
# Set when this worker process is asked to stop (worker.py): its batch sends no further
# chunk, so the process ends within about STOP_CHECK_SECONDS instead of after a whole
# rate-limited batch (whose email in flight a kill would leave "unknown").
HAND_BACK = threading.Event()
UNKNOWN_REPLY = "the worker stopped during sending: the outcome is unknown, not resent"
RENDER_FAILURE = "not sent: the message failed for this client: "  # then the template's error


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    retry: int = 0
    cancelled: int = 0
    unknown: int = 0
    paused_until: datetime | None = None
    # The SMTP server could not be reached, or refused mailer itself (its login or sender):
    # the rest waits for the retry, untried.
    unreachable_until: datetime | None = None
    stopped: bool = False  # the mailing was disabled or its owner blocked
    # The worker is stopping: these deliveries were left waiting, for a new job (jobs.py).
    handed_back: list[int] = field(default_factory=list, repr=False)

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.retry + self.cancelled + self.unknown

    @property
    def held_up(self) -> bool:
        """Whether the batch stopped short for the mail server or the daily limit."""
        return self.unreachable_until is not None or self.paused_until is not None

    def __str__(self) -> str:
        """The job's log line: the counts, then why the batch stopped short, if it did."""
        said = [
            f"sent {self.sent}, failed {self.failed}, retry {self.retry},"
            f" cancelled {self.cancelled}, unknown {self.unknown}"
        ]
        if self.unreachable_until is not None:
            said.append(
                "the mail server could not be reached or refused mailer (the attempt log"
                f" says why); next try at {self.unreachable_until:%Y-%m-%d %H:%M:%S} UTC"
            )
        if self.paused_until is not None:
            said.append(f"the daily limit is used up until {self.paused_until:%Y-%m-%d %H:%M} UTC")
        if self.stopped:
            said.append("stopped: the mailing was disabled or its owner blocked")
        return "; ".join(said)


@dataclass
class _Run:
    """What every email of a run shares, prepared once per batch."""

    id: int
    mailing_id: int
    owner_id: int
    compiled: object
    builder: MessageBuilder
    sender: str
    base_url: str
    token: Callable[[int, str], str] = unsubscribe_token


def send_batch(
    run_id: int,
    delivery_ids: Iterable[int],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Send the waiting deliveries among `delivery_ids` of run `run_id`; commits as it goes.

    Safe to call twice with the same ids, concurrently or after a crash:
    claimed, sent and final deliveries are skipped.
    """
    result = BatchResult()
    run = _load_run(run_id)
    if run is None or run.finished_at is not None:
        return result
    if _stopped(run):
        result.stopped = True
        result.cancelled = cancel_remaining(run_id)
        finish_if_done(run_id)
        db.session.commit()
        return result
    context = _prepare(run_id, run)
    rows = _load(sorted(set(delivery_ids)), run_id)
    db.session.commit()  # end the read transaction: each claim commits on its own
    _send_rows(context, rows, result, on_progress)
    if result.stopped:
        result.cancelled += cancel_remaining(run_id)
    if result.sent and result.paused_until is None:
        db.session.execute(
            update(Run)
            .where(Run.id == run_id, Run.paused_until.is_not(None))
            .values(paused_until=None)
        )
    finish_if_done(run_id)
    db.session.commit()
    return result


def _load_run(run_id: int):
    """The run, whether it may send (invariant 6), and its message as the run began: one
    query per batch."""
    return db.session.execute(
        select(
            Run.finished_at,
            Run.mailing_id,
            Mailing.owner_id,
            Mailing.is_active,
            User.is_blocked.label("owner_blocked"),
            User.sender_name,
            User.reply_to,
            # The run's copy of its message, taken when it began (Run.subject).
            func.coalesce(Run.subject, Message.subject).label("subject"),
            func.coalesce(Run.body_text, Message.body_text).label("body_text"),
            func.coalesce(Run.body_html, Message.body_html).label("body_html"),
        )
        .join(Mailing, Mailing.id == Run.mailing_id)
        .join(User, User.id == Mailing.owner_id)
        .join(Message, Message.id == Mailing.message_id)
        .where(Run.id == run_id)
    ).first()


def _stopped(run) -> bool:
    """Invariant 6: the run's mailing was disabled, or its owner blocked (or it is gone)."""
    return run is None or not run.is_active or run.owner_blocked


def _stopped_since(run_id: int) -> bool:
    """Checked again between chunks: ends its read transaction so the next check sees news."""
    run = _load_run(run_id)
    db.session.commit()
    return _stopped(run)


def _send_rows(context: _Run, rows, result: BatchResult, on_progress) -> None:
    config = current_app.config
    limiter = limiter_from_config()
    transport = transport_from_config(config)
    ledger = ledger_for_engine(config["HARD_BOUNCE_LIMIT"], context.id)
    stall_cutoff = utcnow() - timedelta(seconds=config["SEND_STALL_SECONDS"])
    by_id = {row.id: row for row in rows}
    ahead = _Ahead(context)
    unstarted: list[int] = []
    try:
        sendable = [r.id for r in rows if _ready(context, r, result, ledger, stall_cutoff)]
        most = _most_per_chunk(limiter.per_second)
        start, size = 0, min(FIRST_CHUNK, most)
        touched = time.monotonic()
        while start < len(sendable):
            if start and HAND_BACK.is_set():
                result.handed_back = sendable[start:]
                break
            if start and _stopped_since(context.id):
                result.stopped = True
                break
            chunk_began = time.monotonic()
            if chunk_began - touched > config["SEND_STALL_SECONDS"] / 3:
                # A batch that lasts (a tight rate limit, a slow server) shows it is alive,
                # or dispatch would take the rest of it for lost and queue it again.
                ledger.set_status(sendable[start:], WAITING, {"updated_at": utcnow()})
                touched = chunk_began
            unstarted = ledger.claim(sendable[start : start + size], utcnow())
            try:
                while unstarted:
                    following = by_id[unstarted[1]] if len(unstarted) > 1 else None
                    row = by_id[unstarted[0]]
                    _send_one(context, row, following, ahead, result, limiter, transport, ledger)
                    if result.paused_until is not None:
                        break  # this one was not sent: it waits with the rest
                    unstarted.pop(0)
                    if on_progress is not None:
                        on_progress(1)
                    if result.unreachable_until is not None:
                        break  # no server to send the rest to
            except WaitCalledOff:  # stopping while the rate limit's Redis is away
                result.handed_back = unstarted + sendable[start + size :]
                break
            if result.paused_until is not None or result.unreachable_until is not None:
                _wait_untried(context, ledger, unstarted + sendable[start + size :], result)
                unstarted = []
                break
            start += size
            size = _next_chunk(size, time.monotonic() - chunk_began, most)
    finally:
        try:
            transport.close()
            limiter.release()
        finally:
            ledger.finish(unstarted, utcnow())


def _most_per_chunk(per_second: int) -> int:
    """What a per-second rate limit lets out in STOP_CHECK_SECONDS (CLAIM_CHUNK without one).

    The pace of a chunk cannot tell: the limit counts per calendar second, so a chunk
    that fits in what is left of one goes out at once, and looks fast.
    """
    if per_second > 0:
        return max(1, min(CLAIM_CHUNK, int(per_second * STOP_CHECK_SECONDS)))
    return CLAIM_CHUNK


def _next_chunk(size: int, seconds: float, most: int = CLAIM_CHUNK) -> int:
    """As many deliveries as the last chunk's pace sends in STOP_CHECK_SECONDS (1 to `most`):
    a slow server makes chunks small, so a stop, or a client taken out of the mailing,
    still reaches the run within about that time."""
    if seconds <= 0:
        return most
    return max(1, min(most, int(size / seconds * STOP_CHECK_SECONDS)))


def _ready(context: _Run, row, result: BatchResult, ledger, stall_cutoff) -> bool:
    """Whether the row is this batch's to send; settles the ones that are not."""
    now = utcnow()
    if row.status == "sending":
        # Its worker died mid-transaction (or another is on it right now, if fresh).
        if row.updated_at < stall_cutoff:
            attempt = _attempt(context, row, now, False, None, UNKNOWN_REPLY)
            result.unknown += ledger.unknown(row.id, now, attempt)
        return False
    if row.status not in WAITING or (row.next_try_at is not None and row.next_try_at > now):
        return False
    if row.unsubscribed_at is not None or row.bounced_at is not None:
        ledger.cancel([row.id], now)
        result.cancelled += 1
        return False
    return True


def _send_one(
    context: _Run,
    row,
    following,
    ahead: _Ahead,
    result: BatchResult,
    limiter: RateLimiter,
    transport,
    ledger: SessionLedger,
) -> None:
    """Send `row`'s email; `following` (the next claimed row, if any) is built meanwhile."""
    try:
        limiter.acquire(before_waiting=ledger.settle, stop=HAND_BACK)
    except DayQuotaUsed as quota:
        result.paused_until = quota.until
        return
    data = unbuilt = None
    try:
        data = ahead.take(row)
    except Exception as error:  # noqa: BLE001 - the owner's template fails for this client
        log.warning("run %s: delivery %s could not be rendered: %s", context.id, row.id, error)
        reason = f"{RENDER_FAILURE}{error}"
        unbuilt = Reply(554, reason, "render")  # permanent, as a server's 554; not a bounce
    ledger.begin_start(row.id, utcnow())
    if following is not None:
        ahead.build(following)  # while the database marks this one
    started = ledger.started()  # False: another batch has it (or had)
    if not started or unbuilt is not None:
        if transport.announced is not None:
            transport.close()  # drops the envelope written ahead for it
        if started:
            _record(context, ledger, row, unbuilt, utcnow(), result)  # failed, unsent
        return
    reply = transport.send(
        context.builder.sender_address,
        row.email,
        data,
        following=following.email if following is not None else None,
    )
    _record(context, ledger, row, reply, utcnow(), result)


class _Ahead:
    """The next email, built while the database marks the current one "sending".

    Building is the sender's own work; waiting for the database is not. Doing
    one during the other takes the building off each email's time. A build
    error is raised when that email's turn comes, before its mark.
    """

    def __init__(self, context: _Run) -> None:
        self.context = context
        self.row_id: int | None = None
        self.data: bytes | None = None
        self.error: Exception | None = None

    def build(self, row) -> None:
        self.row_id, self.data, self.error = row.id, None, None
        try:
            self.data = _build(self.context, row)
        except Exception as error:  # noqa: BLE001 - raised when its turn comes
            self.error = error

    def take(self, row) -> bytes:
        if self.row_id != row.id:
            self.build(row)
        data, error = self.data, self.error
        self.row_id, self.data, self.error = None, None, None
        if error is not None:
            raise error
        return data


def _build(context: _Run, row) -> bytes:
    client = ClientContext(row.email, row.full_name or "", row.comment or "")
    token = context.token(row.client_id, row.email)
    url = f"{context.base_url}/u/{token}"
    rendered = context.compiled.render(client=client, unsubscribe_url=url)
    return context.builder.build(
        to=row.email,
        client_id=row.client_id,  # signs the Message-ID, for the bounce reports that return it
        rendered=rendered,
        unsubscribe_url=url,
        mailto=_mailto(context, token),
    )


def _record(context: _Run, ledger, row, reply: Reply, now: datetime, result) -> None:
    tries = row.tries + 1
    most = current_app.config["SEND_MAX_ATTEMPTS"]
    bounce = False
    # A refusal before the client is named refuses mailer, not the client: on connecting
    # or logging in (a wrong MAIL_PASSWORD, a blocked IP), or a 5xx at MAIL FROM (a sender
    # address the provider will not take). It is retried, as when the server cannot be
    # reached, and the rest of the batch waits for that retry: however long it takes,
    # never failing the client, at most as long apart as the last of a client's tries.
    refuses_mailer = reply.stage == "connect" or (reply.permanent and reply.stage == "mail")
    # A policy refusal (5.7.x) says nothing of the address, so it is never a bounce. Of
    # the recipient ("Relay access denied" from a relay that will not relay for mailer,
    # "authentication required"), it is retried as a temporary failure; of the message
    # (judged spam, DMARC), it fails the delivery: the same message would fare no better.
    refused_recipient_for_policy = reply.policy and reply.stage == "rcpt"
    refused_for_good = reply.permanent and not refuses_mailer and not refused_recipient_for_policy
    if reply.ok:
        status, next_try_at = "sent", None
        result.sent += 1
    elif refused_for_good or (tries >= most and not refuses_mailer):
        status, next_try_at = "failed", None
        result.failed += 1
        bounce = refused_for_good and not reply.policy and reply.stage in ("rcpt", "data")
    else:
        status, next_try_at = "retry", now + retry_delay(min(tries, most))
        result.retry += 1
    if not reply.ok and refuses_mailer:
        # No server to talk to (refused, timed out, or it said 421 on connecting), or one
        # that will not take mail from mailer: the rest of the batch waits for this one's
        # retry instead of each spending a try, an attempt and a send of the rate limit
        # on the same refusal.
        result.unreachable_until = next_try_at or now + retry_delay(1)
    attempt = _attempt(context, row, now, reply.ok, reply.code, reply.text)
    ledger.outcome(row.id, status, next_try_at, now, attempt, bounce)


def retry_delay(tries: int) -> timedelta:
    """Exponential backoff with full jitter on top: base * 2^(tries-1) + [0, base)."""
    base = current_app.config["SEND_RETRY_BASE_SECONDS"]
    jitter = random.uniform(0, base)  # noqa: S311 - spreading retries, not security
    return timedelta(seconds=base * 2 ** (tries - 1) + jitter)


def _wait_untried(context: _Run, ledger, delivery_ids: list[int], result: BatchResult) -> None:
    """The rest of the batch waits as "retry", untried (no attempt, no try counted): for
    tomorrow when the daily quota is spent (the run shows it paused), or, when the server
    could not be reached, until the retry of the email that found it so."""
    until = result.paused_until or result.unreachable_until
    values = {"status": "retry", "next_try_at": until, "updated_at": utcnow()}
    ledger.set_status(delivery_ids, (*WAITING, "claimed"), values)
    if result.paused_until is not None:
        ledger.pause_run(context.id, until)


def _attempt(context: _Run, row, now, success: bool, code: int | None, text: str) -> dict:
    return {
        "owner_id": context.owner_id,
        "mailing_id": context.mailing_id,
        "run_id": context.id,
        "delivery_id": row.id,
        "client_id": row.client_id,
        "recipient": row.email,
        "attempted_at": now,
        "success": success,
        "reply_code": code,
        "reply": text[: Attempt.REPLY_MAX],
    }


def _mailto(context: _Run, token: str) -> str:
    # quote("unsubscribe " + token): a token is URL-safe already, only the space needs it.
    return f"{context.builder.sender_address}?subject=unsubscribe%20{token}"


def _prepare(run_id: int, run) -> _Run:
    compiled = compile_message(
        subject=run.subject, body_text=run.body_text, body_html=run.body_html or ""
    )
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    return _Run(
        id=run_id,
        mailing_id=run.mailing_id,
        owner_id=run.owner_id,
        compiled=compiled,
        builder=message_builder(
            run_id, has_html=compiled.has_html, sender_name=run.sender_name, reply_to=run.reply_to
        ),
        sender=sender,
        base_url=current_app.config["BASE_URL"],
        token=token_maker(),
    )


def message_builder(
    run_id: int, *, has_html: bool, sender_name: str = "", reply_to: str = ""
) -> MessageBuilder:
    """The builder of run `run_id`'s emails, from the configured sender and SECRET_KEY
    (a test email's too, under proof.NO_RUN), with the owner's sender name and Reply-To."""
    config = current_app.config
    return MessageBuilder(
        sender=config["MAIL_DEFAULT_SENDER"],
        run_id=run_id,
        has_html=has_html,
        key=message_id_key(config["SECRET_KEY"]),
        sender_name=sender_name,
        reply_to=reply_to,
    )


def _load(delivery_ids: list[int], run_id: int) -> list:
    if not delivery_ids:
        return []
    return db.session.execute(
        select(
            Delivery.id,
            Delivery.status,
            Delivery.tries,
            Delivery.next_try_at,
            Delivery.updated_at,
            Delivery.client_id,
            Client.email,
            Client.full_name,
            Client.comment,
            Client.unsubscribed_at,
            Client.bounced_at,
        )
        .join(Client, Client.id == Delivery.client_id)
        .where(Delivery.id.in_(delivery_ids), Delivery.run_id == run_id)
        .order_by(Delivery.id)
    ).all()


def mark_stalled_unknown(run_id: int, delivery_ids: list[int], stall_cutoff: datetime) -> int:
    """Deliveries left "sending" since before `stall_cutoff` become "unknown"; commits."""
    run = db.session.get(Run, run_id)
    context = _Run(
        id=run_id,
        mailing_id=run.mailing_id,
        owner_id=run.mailing.owner_id,
        compiled=None,
        builder=None,
        sender="",
        base_url="",
    )
    ledger = SessionLedger(current_app.config["HARD_BOUNCE_LIMIT"], run_id)
    marked = 0
    for row in _load(delivery_ids, run_id):
        if row.status == "sending" and row.updated_at < stall_cutoff:
            now = utcnow()
            marked += ledger.unknown(
                row.id, now, _attempt(context, row, now, False, None, UNKNOWN_REPLY)
            )
    ledger.finish([], utcnow())
    finish_if_done(run_id)
    db.session.commit()
    return marked
