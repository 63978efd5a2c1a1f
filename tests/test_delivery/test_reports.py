"""What an email in the mailbox asks of mailer, read without a server (reports.py)."""

from __future__ import annotations

from email.utils import make_msgid

import pytest

from mailer.delivery import reports
from mailer.models import Attempt

OURS = "<0123456789abcdef0123456789abcdef.12@mailer.example>"


def _report(blocks: str, message_id: str = OURS) -> bytes:
    return (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay\r\n\r\n"
        f"{blocks}\r\n--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\n\r\n--R--\r\n"
    ).encode()


def _block(to: str, action: str = "failed", status: str = "5.1.1", diagnostic: str = "") -> str:
    extra = f"Diagnostic-Code: {diagnostic}\r\n" if diagnostic else ""
    return f"Final-Recipient: rfc822; {to}\r\nAction: {action}\r\nStatus: {status}\r\n{extra}\r\n"


@pytest.mark.parametrize(
    ("message_id", "run_id"),
    [
        (OURS, 12),
        ("  <0123456789abcdef0123456789abcdef.7@x.example> ", 7),
        (make_msgid(domain="mailer.example"), None),  # an account email's (confirm, reset)
        ("<0123456789abcdef0123456789abcdef.99999999999@x>", None),  # past any run id
        ("<0123456789abcdef0123456789abcdef.0@x>", None),
        ("<0123456789abcdef.12@x>", None),
        ("", None),
    ],
)
def test_the_run_comes_from_a_message_id_in_mailers_form_only(message_id, run_id):
    signed = reports.signed_run_of(message_id)
    assert (signed[0] if signed else None) == run_id


@pytest.mark.parametrize(
    ("subject", "token"),
    [
        ("unsubscribe MTI.abc-_=", "MTI.abc-_="),
        ("Re: Unsubscribe   MTI.abc", "MTI.abc"),
        ("AW: [SPAM] UNSUBSCRIBE MTI.abc ", "MTI.abc"),
        ("How do I unsubscribe?", None),
        ("unsubscribe", None),
        ("resubscribe MTI.abc", None),
    ],
)
def test_an_unsubscribe_subject_gives_its_token_whatever_the_noise_around_it(subject, token):
    assert reports.unsubscribe_token_in(subject) == token


def test_only_permanent_failures_of_a_report_count():
    raw = _report(
        _block("ann@example.com", diagnostic="smtp; 550 5.1.1 no such user")
        + _block("bob@example.com", action="delayed", status="4.4.7")
        + _block("carol@example.com", status="4.2.2")
        + _block("dan@example.com", action="delivered", status="2.0.0")
        + _block("not an address", diagnostic="smtp; 550 5.1.1 x")
    )
    report = reports.parse(raw)
    assert [f.recipients for f in report.failures] == [("ann@example.com",)]
    [failure] = report.failures
    assert (failure.run_id, failure.status, failure.reply_code) == (12, "5.1.1", 550)
    # Kept for the reader to check against the delivery's (inbox.py), not checked here.
    assert failure.signature == "0123456789abcdef0123456789abcdef"
    assert failure.reply == "550 5.1.1 no such user"


def test_a_report_on_an_email_not_of_a_mailing_asks_nothing():
    raw = _report(_block("ann@example.com"), message_id=make_msgid(domain="mailer.example"))
    assert reports.parse(raw) is None


def test_the_remote_servers_words_are_kept_as_the_database_can_store_them():
    noisy = "smtp; 550\x00 5.1.1 \x07bad" + " word" * 1000
    [failure] = reports.parse(_report(_block("ann@example.com", diagnostic=noisy))).failures
    assert "\x00" not in failure.reply
    assert "\x07" not in failure.reply
    assert failure.reply.startswith("550 5.1.1 bad word")
    assert len(failure.reply) == Attempt.REPLY_MAX


def test_an_email_that_is_neither_asks_nothing():
    assert reports.parse(b"Subject: Hello\r\n\r\nHi there\r\n") is None
    assert reports.may_be_report(b"Content-Type: text/plain\r\n") is False
    assert reports.may_be_report(
        b"Content-Type: multipart/report;\r\n report-type=delivery-status; boundary=x\r\n"
    )
