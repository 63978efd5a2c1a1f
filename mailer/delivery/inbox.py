"""Reading the sending account's mailbox: mailto unsubscribes and later bounces.

Every email's List-Unsubscribe offers a mailto to MAIL_DEFAULT_SENDER, and a
relay (Yandex and most providers) takes an email to a bad address with 250,
then sends a bounce report (DSN) to that same mailbox. With INBOX_SERVER set,
`read_inbox` (every INBOX_INTERVAL_SECONDS, and `flask read-inbox`) reads it
over IMAP and acts on both (reports.py says how each is recognised):

- an unsubscribe request whose token is a client's unsubscribes them, as the
  link does; a forged or stale token does nothing;
- a permanent failure of a delivery that was handed to the server, if the
  report returns the Message-ID mailer signed for that delivery (mime.py),
  records an attempt (not successful, with the remote server's words) in the
  run's log and tally, and counts a hard bounce as a 5xx reply does
  (ledger.hard_bounce) unless its Status is the server's policy (5.7.x,
  transport.for_policy). Anyone may mail a report naming a client's address
  and a run, so a report without that signature bounces nobody.

The mailbox is only read (imap.py: EXAMINE and BODY.PEEK), so no flag changes
(an email a person has not read stays unread) and nothing is deleted or moved.

Exactly once: `inbox_marks` keeps, per account and folder, its UIDVALIDITY and
the last UID dealt with. The emails after it are read in chunks; a chunk's
actions and the move of the mark are one transaction that starts with a
conditional UPDATE of the mark (`WHERE last_uid = <what this reader read>`):
a second reader at the same moment changes no row, rolls back and stops.
A new UIDVALIDITY (the folder was recreated) starts again from its first
email; that is safe because unsubscribing is idempotent and a delivery takes
one reported bounce at most (the unique index one_report_per_delivery).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, fields
from datetime import datetime

from flask import current_app
from sqlalchemy import select, text, update

from mailer import signing
from mailer.delivery import ledger, reports, stopping, tallies, unsubscribe
from mailer.delivery.imap import InboxError, connected, examine, fetch, uids_after
from mailer.delivery.mime import message_id_key, message_id_signer
from mailer.delivery.transport import for_policy
from mailer.extensions import db, insert_on_conflict
from mailer.mail import mask_email
from mailer.models import (
    Attempt,
    Client,
    Delivery,
    InboxMark,
    Mailing,
    Run,
    normalize_email,
    utcnow,
)

log = logging.getLogger(__name__)

CHUNK = 25  # emails fetched, then applied in one transaction
# A delivery the server may have taken: only these can bounce later.
HANDED_OVER = ("sending", "sent", "unknown")


@dataclass
class Counts:
    unsubscribed: int = 0
    bounced: int = 0
    refused_for_policy: int = 0  # failed later for the server's policy (5.7.x): no bounce
    left_alone: int = 0
    already: int = 0  # requests and reports dealt with before (read again, or sent twice)
    skipped: int = 0  # too large, or unreadable

    def add(self, other: Counts) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def __str__(self) -> str:
        said = f"{self.unsubscribed} unsubscribed, {self.bounced} bounced"
        if self.refused_for_policy:
            said += f", {self.refused_for_policy} refused for the server's policy"
        said += f", {self.left_alone} left alone"
        if self.already:
            said += f", {self.already} dealt with before"
        if self.skipped:
            said += f", {self.skipped} skipped"
        return said


def read_inbox() -> Counts:
    """Read the emails that came since the last read and act on them; InboxError when the
    mailbox cannot be read (the next read tries again)."""
    config = current_app.config
    if not config["INBOX_SERVER"]:
        raise InboxError("INBOX_SERVER is not set: mailer reads no mailbox")
    mailbox = _mailbox_name(config)
    counts = Counts()
    with connected(config) as imap:
        uidvalidity = examine(imap, config["INBOX_FOLDER"])
        last_uid = _mark(mailbox, uidvalidity)
        uids = uids_after(imap, last_uid)
        for start in range(0, len(uids), CHUNK):
            chunk = uids[start : start + CHUNK]
            readings = [(uid, _parsed(uid, raw)) for uid, raw in fetch(imap, chunk)]
            if not _apply_chunk(mailbox, uidvalidity, last_uid, chunk[-1], readings, counts):
                break
            last_uid = chunk[-1]
    log.info("inbox %s: %s", _shown(mailbox), counts)
    return counts


def _mailbox_name(config) -> str:
    username = config["INBOX_USERNAME"].lower()
    return f"{username}@{config['INBOX_SERVER'].lower()}/{config['INBOX_FOLDER']}"


def _shown(mailbox: str) -> str:
    """The mailbox's name as the log shows it: the login's address masked."""
    login, _, rest = mailbox.rpartition("@")
    return f"{mask_email(login) if '@' in login else login[:1] + '***'} on {rest}"


# -- reading an email (no database) -----------------------------------------------------


def _parsed(uid: int, raw: bytes | None):
    """reports.parse's answer, or "skipped" for an email too large or unreadable."""
    if raw is None:
        return "skipped"
    try:
        return reports.parse(raw)
    except Exception as error:  # any malformed email: one line, and the others go on
        log.warning("inbox: email UID %s cannot be read (%s): skipped", uid, type(error).__name__)
        return "skipped"


# -- the mark and the actions: exactly once ------------------------------------------


def _mark(mailbox: str, uidvalidity: int) -> int:
    """The last UID dealt with in this folder as it is now; 0 for a folder read for the
    first time, or one whose UIDVALIDITY changed (its UIDs now name other emails)."""
    row = _read_mark(mailbox)
    if row is None:
        db.session.execute(
            insert_on_conflict(InboxMark)
            .values(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=0)
            .on_conflict_do_nothing(index_elements=[InboxMark.mailbox])
        )
    elif row.uidvalidity != uidvalidity:
        log.info(
            "inbox %s: UIDVALIDITY changed (%s to %s): reading the folder from its start",
            _shown(mailbox),
            row.uidvalidity,
            uidvalidity,
        )
        db.session.execute(
            update(InboxMark)
            .where(
                InboxMark.mailbox == mailbox,
                InboxMark.uidvalidity == row.uidvalidity,
                InboxMark.last_uid == row.last_uid,
            )
            .values(uidvalidity=uidvalidity, last_uid=0)
        )
    db.session.commit()
    row = _read_mark(mailbox)
    if row is None or row.uidvalidity != uidvalidity:
        raise InboxError("the folder INBOX_FOLDER changed while it was read; trying again later")
    return row.last_uid


def _read_mark(mailbox: str):
    return db.session.execute(
        select(InboxMark.uidvalidity, InboxMark.last_uid).where(InboxMark.mailbox == mailbox)
    ).first()


def _apply_chunk(mailbox, uidvalidity, expected, last, readings, counts: Counts) -> bool:
    """Move the mark from `expected` to `last` and act on the chunk's emails, in one
    transaction; False (nothing done) when another reader moved the mark first."""
    now = utcnow()
    moved = db.session.execute(
        update(InboxMark)
        .where(
            InboxMark.mailbox == mailbox,
            InboxMark.uidvalidity == uidvalidity,
            InboxMark.last_uid == expected,
        )
        .values(last_uid=last, read_at=now)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        log.info("inbox %s: another reader is reading it; leaving it to them", _shown(mailbox))
        return False
    done = Counts()
    try:
        for uid, reading in readings:
            done.add(_act(uid, reading, now))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    counts.add(done)
    return True


def _act(uid: int, reading, now: datetime) -> Counts:
    if reading == "skipped":
        return Counts(skipped=1)
    if isinstance(reading, reports.UnsubscribeRequest):
        return _unsubscribe(uid, reading.token)
    if isinstance(reading, reports.BounceReport):
        done = Counts()
        for failure in reading.failures:
            done.add(_bounce(uid, failure, now))
        # One email: left alone once, however many of its recipients were not ours.
        done.left_alone = 0 if done.bounced or done.refused_for_policy or done.already else 1
        return done
    return Counts(left_alone=1)


def _unsubscribe(uid: int, token: str) -> Counts:
    client = unsubscribe.client_for_token(token)
    if client is None:  # forged, cut short, or its client deleted or readdressed
        log.info("inbox: email UID %s asks to unsubscribe with a token that names no client", uid)
        return Counts(left_alone=1)
    if not unsubscribe.unsubscribe(client):
        return Counts(already=1)
    log.info("inbox: client %s (%s) unsubscribed by email", client.id, mask_email(client.email))
    return Counts(unsubscribed=1)


def _bounce(uid: int, failure: reports.Failure, now: datetime) -> Counts:
    delivery = _reported_delivery(uid, failure)
    if delivery is None:
        return Counts(left_alone=1)
    recorded = db.session.execute(
        insert_on_conflict(Attempt)
        .values(
            owner_id=delivery.owner_id,
            mailing_id=delivery.mailing_id,
            run_id=failure.run_id,
            delivery_id=delivery.id,
            client_id=delivery.client_id,
            recipient=delivery.email,
            attempted_at=now,
            success=False,
            reply_code=failure.reply_code,
            reply=failure.reply,
            reported=True,
        )
        .on_conflict_do_nothing(index_elements=[Attempt.delivery_id], index_where=text("reported"))
    ).rowcount
    if recorded != 1:
        return Counts(already=1)
    tallies.add(failure.run_id, attempts=1)
    if for_policy(failure.status):
        log.info(
            "inbox: run %s: %s refused later for the server's policy (%s), not a bounce",
            failure.run_id,
            mask_email(delivery.email),
            failure.status,
        )
        return Counts(refused_for_policy=1)
    limit = current_app.config["HARD_BOUNCE_LIMIT"]
    marked = db.session.execute(
        ledger.hard_bounce(delivery.client_id, delivery.email, now, limit).returning(
            Client.bounced_at
        )
    ).scalar_one_or_none()
    if marked is not None:  # bounced (by this report, or before): runs under way stop too
        stopping.cancel_client(delivery.client_id)
    log.info(
        "inbox: run %s: %s bounced later (%s)",
        failure.run_id,
        mask_email(delivery.email),
        failure.status,
    )
    return Counts(bounced=1)


def _reported_delivery(uid: int, failure: reports.Failure):
    """The delivery of the run to the failed address, if the server may have taken it and
    the report returns the Message-ID mailer signed for it; None, with a line in the log,
    otherwise.

    Through the run's owner: their client by address (one_client_per_email), then its
    delivery in the run (one_delivery_per_client_per_run), whatever the run's size.
    """
    run = db.session.execute(
        select(Run.mailing_id, Mailing.owner_id)
        .join(Mailing, Mailing.id == Run.mailing_id)
        .where(Run.id == failure.run_id)
    ).first()
    candidates = [] if run is None else _handed_over_to(failure, run.owner_id)
    if not candidates:
        log.info(
            "inbox: email UID %s reports a failure of run %s to an address none of its"
            " sent emails went to: left alone",
            uid,
            failure.run_id,
        )
        return None
    signers = [  # the email may have been sent under an earlier SECRET_KEY
        message_id_signer(message_id_key(secret), failure.run_id)
        for secret in signing.secret_keys()
    ]
    for found in candidates:
        for sign in signers:
            if hmac.compare_digest(failure.signature, sign(found.client_id)):
                return _ReportedDelivery(*found, owner_id=run.owner_id, mailing_id=run.mailing_id)
    # Forged (a client's address and a guessed run id are all it takes to write one), on
    # an email sent before Message-IDs were signed, whose hex was random, or under a key
    # no longer in SECRET_KEY_FALLBACKS: it cannot be told from a forgery, and bounces
    # nobody.
    log.info(
        "inbox: email UID %s reports a failure of run %s to %s, but returns a Message-ID"
        " mailer did not sign for that email: left alone",
        uid,
        failure.run_id,
        mask_email(candidates[0].email),
    )
    return None


def _handed_over_to(failure: reports.Failure, owner_id: int) -> list:
    """(id, client_id, email) of the run's deliveries the server may have taken, to the
    owner's client of the failed address: one client per spelling of it at most."""
    return db.session.execute(
        select(Delivery.id, Delivery.client_id, Client.email)
        .join(Client, Client.id == Delivery.client_id)
        .where(
            Client.owner_id == owner_id,
            Client.email.in_(_spellings(failure.recipients)),
            Delivery.run_id == failure.run_id,
            Delivery.status.in_(HANDED_OVER),
        )
    ).all()


@dataclass(frozen=True)
class _ReportedDelivery:
    id: int
    client_id: int
    email: str
    owner_id: int
    mailing_id: int


def _spellings(addresses: tuple[str, ...]) -> set[str]:
    """The addresses as a client's may be stored: as normalize_email keeps them (an
    internationalised domain, reported in the ASCII form mailer wrote in RCPT TO, in its
    letters), or as reported (one kept so before)."""
    return {*addresses, *map(normalize_email, addresses)}
