"""What an email in the sending account's mailbox asks of mailer (pure: no I/O).

Two kinds are mailer's to act on; everything else is a person's to read:

- an unsubscribe request: the mailto of List-Unsubscribe sends one whose
  subject is "unsubscribe <token>" (a mail program may add "Re:" and the like);
- a bounce report (a DSN, RFC 3464: multipart/report; report-type=delivery-status)
  that a relay sends when it could not deliver an email it had taken. Each of
  its recipients whose Action is "failed" with a 5.x.x Status is a permanent
  failure; the Message-ID of the returned headers, in mailer's form
  `<signature>.<run id>@<domain>` (mime.py), names the run, and its signature
  is kept for the reader to check against the delivery (inbox.py). Delayed
  reports and 4.x.x ones say nothing final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser, HeaderParser
from email.policy import default as default_policy

from mailer.models import Attempt

# The token is base64url text with a dot (unsubscribe.py); the subject may carry noise.
_UNSUBSCRIBE = re.compile(r"(?:^|[\s:\[(])unsubscribe\s+([A-Za-z0-9_=-]+\.[A-Za-z0-9_=.-]+)", re.I)
_MESSAGE_ID = re.compile(r"^\s*<([0-9a-f]{32})\.(\d{1,10})@[^<>\s]+>\s*$")
RUN_ID_LIMIT = 2**31  # run ids are PostgreSQL integers: a larger one names no run
# What an address can be, and what the database can store of the remote server's words.
_ADDRESS = re.compile(r"^[^\s<>@\x00-\x1f\x7f]+@[^\s<>@\x00-\x1f\x7f]+$")
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PERMANENT = re.compile(r"^\s*(5\.\d{1,3}\.\d{1,3})\b")
_REPLY_CODE = re.compile(r"^([245]\d\d)\b")
_RETURNED_HEADERS = ("text/rfc822-headers", "message/rfc822-headers")


@dataclass(frozen=True)
class UnsubscribeRequest:
    token: str


@dataclass(frozen=True)
class Failure:
    """One recipient of a mailer email that could not be delivered, for good."""

    run_id: int
    signature: str  # the hex part of the returned Message-ID: mailer's, or a forger's
    recipients: tuple[str, ...]  # Original-Recipient first, then Final-Recipient
    status: str
    reply_code: int | None
    reply: str


@dataclass(frozen=True)
class BounceReport:
    failures: tuple[Failure, ...]


def parse(raw: bytes) -> UnsubscribeRequest | BounceReport | None:
    """What the email asks of mailer; None when nothing (a person's to read).

    Raises ValueError (or what the email package raises) on an email it cannot read.
    """
    message = BytesParser(policy=default_policy).parsebytes(raw)
    if _is_delivery_report(message):
        failures = _failures(message)
        if failures:
            return BounceReport(failures)
        return None
    token = unsubscribe_token_in(str(message.get("Subject", "")))
    return UnsubscribeRequest(token) if token else None


def may_be_report(header: bytes) -> bool:
    """Whether an email's headers (its Content-Type at least) are a bounce report's."""
    return _is_delivery_report(
        BytesParser(policy=default_policy).parsebytes(header, headersonly=True)
    )


def unsubscribe_token_in(subject: str) -> str | None:
    match = _UNSUBSCRIBE.search(" ".join(subject.split()))
    return match.group(1) if match else None


def signed_run_of(message_id: str) -> tuple[int, str] | None:
    """(the run, the signature) of a Message-ID in mailer's form; the signature is not
    checked here (that needs the key and the delivery's client: inbox.py)."""
    match = _MESSAGE_ID.match(message_id or "")
    if match is None or not 0 < int(match.group(2)) < RUN_ID_LIMIT:
        return None
    return int(match.group(2)), match.group(1)


def _is_delivery_report(message: EmailMessage) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == "delivery-status"
    )


def _failures(message: EmailMessage) -> tuple[Failure, ...]:
    signed = signed_run_of(_returned_message_id(message) or "")
    if signed is None:
        return ()  # a report on an email that is not a mailing's
    run_id, signature = signed
    failures = []
    for block in _status_blocks(message):
        action = str(block.get("Action", "")).strip().lower()
        status = _PERMANENT.match(str(block.get("Status", "")))
        recipients = _recipients(block)
        if action != "failed" or status is None or not recipients:
            continue
        reply = _diagnostic(block) or f"{status.group(1)} (delivery status report)"
        code = _REPLY_CODE.match(reply)
        failures.append(
            Failure(
                run_id=run_id,
                signature=signature,
                recipients=recipients,
                status=status.group(1),
                reply_code=int(code.group(1)) if code else None,
                reply=reply,
            )
        )
    return tuple(failures)


def _status_blocks(message: EmailMessage) -> list:
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            return payload if isinstance(payload, list) else []
    return []


def _returned_message_id(message: EmailMessage) -> str | None:
    """The Message-ID of the email the report returns (its headers, or all of it)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in _RETURNED_HEADERS:
            payload = part.get_payload(decode=True) or b""
            returned = HeaderParser(policy=default_policy).parsestr(
                payload.decode("utf-8", "replace")
            )
            return str(returned.get("Message-ID", "")) or None
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return str(payload[0].get("Message-ID", "")) or None
    return None


def _recipients(block) -> tuple[str, ...]:
    found = []
    for field in ("Original-Recipient", "Final-Recipient"):
        kind, _, address = str(block.get(field, "")).partition(";")
        address = address.strip().strip("<>").strip().lower()
        if kind.strip().lower() == "rfc822" and _ADDRESS.match(address) and address not in found:
            found.append(address)
    return tuple(found)


def _diagnostic(block) -> str:
    """The remote server's words: "smtp; 550 5.1.1 ..." without its "smtp;"."""
    kind, _, text = str(block.get("Diagnostic-Code", "")).partition(";")
    words = " ".join(_UNSTORABLE.sub(" ", text if text else kind).split())
    return words[: Attempt.REPLY_MAX]
