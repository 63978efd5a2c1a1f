"""The sending account's mailbox, read over IMAP (a real dovecot): mailto unsubscribes and
bounce reports act once, and nothing in the mailbox changes."""

from __future__ import annotations

import logging
import threading
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from mailer.delivery import dispatch, imap, inbox, jobs, scheduler, tallies
from mailer.delivery.mime import message_id_key, message_id_signer
from mailer.delivery.unsubscribe import unsubscribe_token
from mailer.extensions import db
from mailer.models import Attempt, Client, Run
from tests import factories
from tests.test_delivery.conftest import attempts_for, statuses


def _client(email: str) -> Client:
    db.session.expire_all()
    return db.session.scalar(select(Client).where(Client.email == email))


def _send(via_sink, mailing_for, run_jobs, *emails: str):
    """A mailing to `emails`, sent through the SMTP sink; its run's id and the emails."""
    mailing = mailing_for(*emails)
    dispatch.dispatch_due()
    run_jobs()
    run_id = db.session.scalar(select(Run.id).where(Run.mailing_id == mailing.id))
    return mailing, run_id, via_sink.by_recipient()


def _mailto_subject(received) -> str:
    """The subject a mail program writes when its reader unsubscribes by the mailto."""
    mailto = received.message["List-Unsubscribe"].split("<mailto:", 1)[1].split(">", 1)[0]
    [subject] = parse_qs(urlsplit(f"mailto:{mailto}").query)["subject"]
    return subject


def _email(subject: str, *, sender: str = "Ann <ann@example.com>", body: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: news@mailer.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\n\r\n{body}\r\n"
    ).encode()


def _report(received, *, recipient: str | None = None, action="failed", status="5.1.1",
            diagnostic="smtp; 550 5.1.1 <{to}>: Recipient address rejected: User unknown",
            returned: str = "text/rfc822-headers") -> bytes:  # fmt: skip
    """A relay's bounce report (RFC 3464) on an email the sink received."""
    to = recipient or received.rcpt_tos[0]
    headers = received.data.split(b"\r\n\r\n", 1)[0].decode()
    diagnostic_line = f"Diagnostic-Code: {diagnostic.format(to=to)}\r\n" if diagnostic else ""
    return (
        "From: MAILER-DAEMON@relay.example\r\nTo: news@mailer.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@relay.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nYour email could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.example\r\n\r\n"
        f"Final-Recipient: rfc822; {to}\r\nOriginal-Recipient: rfc822;{to}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n{diagnostic_line}\r\n"
        f"--R\r\nContent-Type: {returned}\r\n\r\n{headers}\r\n\r\n--R--\r\n"
    ).encode()


def _reported_attempts() -> list[Attempt]:
    db.session.expire_all()
    return list(db.session.scalars(select(Attempt).where(Attempt.reported).order_by(Attempt.id)))


# -- unsubscribe requests ----------------------------------------------------------------


def test_a_mailto_unsubscribe_unsubscribes_the_client_and_the_next_run_skips_them(
    mailbox, via_sink, mailing_for, run_jobs
):
    mailing, _, received = _send(
        via_sink, mailing_for, run_jobs, "ann@example.com", "bob@example.com"
    )
    mailbox.append(_email(_mailto_subject(received["ann@example.com"])))

    counts = inbox.read_inbox()

    assert (counts.unsubscribed, counts.left_alone) == (1, 0)
    assert _client("ann@example.com").unsubscribed_at is not None
    assert _client("bob@example.com").unsubscribed_at is None
    run_id = dispatch.start_forced_run(mailing.id)
    dispatch.enqueue_run(run_id)
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 2}
    assert statuses(run_id) == {"sent": 1}


def test_a_reply_to_the_request_with_its_subject_changed_by_the_mail_program_still_counts(
    mailbox, user
):
    from tests import factories

    ann = factories.make_client(user, "ann@example.com")
    token = unsubscribe_token(ann.id, ann.email)
    mailbox.append(_email(f"RE:  Fwd: UNSUBSCRIBE   {token}"))

    assert inbox.read_inbox().unsubscribed == 1
    assert _client("ann@example.com").unsubscribed_at is not None


def test_a_forged_token_unsubscribes_nobody_and_the_email_is_left_alone(mailbox, user):
    from tests import factories

    ann = factories.make_client(user, "ann@example.com")
    token = unsubscribe_token(ann.id, ann.email)
    mailbox.append(_email(f"unsubscribe {token[:-4]}AAAA"))
    mailbox.append(_email(f"unsubscribe {unsubscribe_token(ann.id, 'someone@else.example')}"))

    counts = inbox.read_inbox()

    assert (counts.unsubscribed, counts.left_alone) == (0, 2)
    assert _client("ann@example.com").unsubscribed_at is None


# -- bounce reports ---------------------------------------------------------------------


def test_a_permanent_failure_reported_later_logs_an_attempt_and_bounces_the_client(
    mailbox, via_sink, mailing_for, run_jobs
):
    _, run_id, received = _send(
        via_sink, mailing_for, run_jobs, "ann@example.com", "bob@example.com"
    )
    mailbox.append(_report(received["ann@example.com"]))

    counts = inbox.read_inbox()

    assert (counts.bounced, counts.left_alone) == (1, 0)
    sent, reported = attempts_for("ann@example.com")
    assert sent.success is True
    assert (reported.success, reported.reply_code, reported.reported) == (False, 550, True)
    assert reported.reply == (
        "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown"
    )
    assert reported.run_id == run_id
    assert reported.delivery_id is not None
    ann = _client("ann@example.com")
    assert (ann.hard_bounces, ann.bounced_at is not None) == (1, True)
    assert _client("bob@example.com").bounced_at is None
    assert tallies.counts(run_id).attempts == 3  # two emails sent, one bounced later


def test_a_client_bounced_by_a_report_gets_nothing_from_a_run_under_way(
    mailbox, via_sink, mailing_for, run_jobs, user
):
    """Another mailing's run, created before the report was read, sent to them all the same."""
    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    ann = _client("ann@example.com")
    other = factories.make_mailing(user, clients=[ann])
    waiting_run = dispatch.start_forced_run(other.id)
    mailbox.append(_report(received["ann@example.com"]))

    assert inbox.read_inbox().bounced == 1
    assert statuses(waiting_run) == {"cancelled": 1}
    via_sink.received.clear()
    dispatch.enqueue_run(waiting_run)
    run_jobs()
    assert via_sink.received == []


def test_a_report_on_an_email_sent_under_the_old_secret_key_counts_while_it_is_kept(
    mailbox, via_sink, mailing_for, run_jobs, rotate_secret_key
):
    """Its Message-ID was signed with the old key (SECRET_KEY_FALLBACKS); dropped, the
    report is left alone (test_a_report_without_the_signed_message_id...)."""
    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    rotate_secret_key(keep_old=True)
    mailbox.append(_report(received["ann@example.com"]))

    counts = inbox.read_inbox()

    assert (counts.bounced, counts.left_alone) == (1, 0)
    assert _client("ann@example.com").bounced_at is not None


def test_a_reported_bounce_counts_towards_the_hard_bounce_limit_as_a_5xx_does(
    mailbox, via_sink, mailing_for, run_jobs, sending_config
):
    sending_config(HARD_BOUNCE_LIMIT=2)
    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    mailbox.append(_report(received["ann@example.com"], returned="message/rfc822"))

    assert inbox.read_inbox().bounced == 1
    ann = _client("ann@example.com")
    assert (ann.hard_bounces, ann.bounced_at) == (1, None)  # one of two


def test_a_report_of_a_refusal_for_the_servers_policy_logs_an_attempt_and_bounces_nobody(
    mailbox, via_sink, mailing_for, run_jobs, sending_config
):
    sending_config(HARD_BOUNCE_LIMIT=1)
    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    diagnostic = "smtp; 550 5.7.1 Message rejected as spam"
    mailbox.append(_report(received["ann@example.com"], status="5.7.1", diagnostic=diagnostic))

    counts = inbox.read_inbox()

    assert (counts.bounced, counts.refused_for_policy, counts.left_alone) == (0, 1, 0)
    [reported] = _reported_attempts()
    assert reported.reply == "550 5.7.1 Message rejected as spam"
    assert (_client("ann@example.com").hard_bounces, _client("ann@example.com").bounced_at) == (
        0,
        None,
    )


def test_a_report_without_a_diagnostic_logs_its_status(mailbox, via_sink, mailing_for, run_jobs):
    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    mailbox.append(_report(received["ann@example.com"], status="5.2.2", diagnostic=""))

    assert inbox.read_inbox().bounced == 1
    [reported] = _reported_attempts()
    assert (reported.reply_code, reported.reply) == (None, "5.2.2 (delivery status report)")


@pytest.mark.parametrize(
    ("action", "status"), [("delayed", "4.4.7"), ("failed", "4.2.2"), ("delivered", "2.0.0")]
)
def test_a_delay_or_a_temporary_failure_does_nothing(
    mailbox, via_sink, mailing_for, run_jobs, action, status
):
    _, run_id, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    mailbox.append(_report(received["ann@example.com"], action=action, status=status))

    counts = inbox.read_inbox()

    assert (counts.bounced, counts.left_alone) == (0, 1)
    assert _reported_attempts() == []
    assert _client("ann@example.com").hard_bounces == 0
    assert tallies.counts(run_id).attempts == 1


def test_a_report_on_an_address_the_run_did_not_send_to_bounces_nobody(
    mailbox, via_sink, mailing_for, run_jobs, user
):
    from tests import factories

    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    factories.make_client(user, "carol@example.com")  # a client, not in that run
    mailbox.append(_report(received["ann@example.com"], recipient="carol@example.com"))

    assert inbox.read_inbox().left_alone == 1
    assert _reported_attempts() == []
    assert _client("carol@example.com").hard_bounces == 0


def test_a_servers_words_in_another_charset_are_kept_readable(
    mailbox, via_sink, mailing_for, run_jobs
):
    """A Russian server answering in cp1251, and a NUL (dovecot gives it back as 0x80): the
    bounce counts, and the server's words are stored as far as they are text."""
    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    words = "smtp; 550 5.1.1 Нет такого ящика".encode("cp1251")
    mailbox.append(
        _report(received["ann@example.com"], diagnostic="{to}").replace(
            b"Diagnostic-Code: ann@example.com", b"Diagnostic-Code: " + words + b" \x00"
        )
    )

    assert inbox.read_inbox().bounced == 1
    [reported] = _reported_attempts()
    assert reported.reply_code == 550
    assert reported.reply.startswith("550 5.1.1 ")


def _signature(received) -> str:
    """The hex part of the Message-ID of an email the sink received."""
    return received.message["Message-ID"].strip("<>").split(".", 1)[0]


def test_the_message_id_of_a_sent_email_is_signed_for_its_run_and_client(
    app, via_sink, mailing_for, run_jobs
):
    """What the reports in these tests return: the Message-ID mime.py signed (the sender
    gave it the client), so the reports that bounce here are the real flow's."""
    _, run_id, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    key = message_id_key(app.config["SECRET_KEY"])
    expected = message_id_signer(key, run_id)(_client("ann@example.com").id)
    assert _signature(received["ann@example.com"]) == expected


def _guessed(received, report: bytes) -> bytes:
    """What a forger can write: the run and the address right, the signature guessed (as
    random as the hex of the emails sent before Message-IDs were signed)."""
    signed = _signature(received["ann@example.com"])
    assert signed.encode() in report
    return report.replace(signed.encode(), uuid.uuid4().hex.encode())


def _of_another_client(received, report: bytes) -> bytes:
    """One client of the run (who has their own email's Message-ID) reporting another."""
    return _report(received["bob@example.com"], recipient="ann@example.com")


@pytest.mark.parametrize(
    "forge",
    [_guessed, _of_another_client, "another SECRET_KEY"],
    ids=["guessed", "another clients", "another secret key"],
)
def test_a_report_without_the_signed_message_id_of_that_delivery_bounces_nobody(
    mailbox, via_sink, mailing_for, run_jobs, rotate_secret_key, caplog, forge
):
    _, run_id, received = _send(
        via_sink, mailing_for, run_jobs, "ann@example.com", "bob@example.com"
    )
    ann = received["ann@example.com"]
    report = _report(ann)
    if forge == "another SECRET_KEY":  # the key changed since the email was sent
        rotate_secret_key(keep_old=False)
    else:
        report = forge(received, report)
    assert f".{run_id}@mailer.example>".encode() in report
    assert b"Final-Recipient: rfc822; ann@example.com" in report
    mailbox.append(report)

    with caplog.at_level(logging.INFO, logger="mailer.delivery.inbox"):
        counts = inbox.read_inbox()

    assert (counts.bounced, counts.left_alone, counts.already) == (0, 1, 0)
    assert _reported_attempts() == []
    ann_client = _client("ann@example.com")
    assert (ann_client.hard_bounces, ann_client.bounced_at) == (0, None)
    assert _client("bob@example.com").hard_bounces == 0
    assert tallies.counts(run_id).attempts == 2  # the two emails sent, nothing more
    logged = [r.getMessage() for r in caplog.records if r.name == "mailer.delivery.inbox"]
    assert (
        f"inbox: email UID 1 reports a failure of run {run_id} to a***@example.com, but"
        " returns a Message-ID mailer did not sign for that email: left alone"
    ) in logged
    assert not any("ann@example.com" in line for line in logged)


def test_a_report_naming_no_run_of_mailer_is_left_alone(mailbox, via_sink, mailing_for, run_jobs):
    _, run_id, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    ours = received["ann@example.com"]
    for other in (run_id + 1, 99999999999):  # no such run; past what the database holds
        report = _report(ours).replace(f".{run_id}@".encode(), f".{other}@".encode())
        mailbox.append(report)

    assert inbox.read_inbox().left_alone == 2
    assert _reported_attempts() == []


# -- exactly once -------------------------------------------------------------------


def test_reading_again_or_after_the_folder_is_recreated_counts_nothing_twice(
    mailbox, via_sink, mailing_for, run_jobs, sending_config
):
    sending_config(HARD_BOUNCE_LIMIT=3)
    _, run_id, received = _send(
        via_sink, mailing_for, run_jobs, "ann@example.com", "bob@example.com"
    )
    emails = [
        _email(_mailto_subject(received["ann@example.com"])),
        _report(received["bob@example.com"]),
    ]
    for raw in emails:
        mailbox.append(raw)
    assert (inbox.read_inbox().unsubscribed, inbox.read_inbox().bounced) == (
        1,
        0,
    )  # the second: nothing new

    before = mailbox.uidvalidity()
    mailbox.recreate()
    for raw in emails:  # the same emails, under the same UIDs of a new UIDVALIDITY
        mailbox.append(raw)
    assert mailbox.uidvalidity() != before
    again = inbox.read_inbox()

    assert (again.unsubscribed, again.bounced, again.already) == (0, 0, 2)
    assert len(_reported_attempts()) == 1
    assert _client("bob@example.com").hard_bounces == 1
    assert tallies.counts(run_id).attempts == 3


def test_a_second_report_of_the_same_bounce_counts_once(mailbox, via_sink, mailing_for, run_jobs):
    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    mailbox.append(_report(received["ann@example.com"]))
    mailbox.append(_report(received["ann@example.com"], returned="message/rfc822"))

    counts = inbox.read_inbox()

    assert (counts.bounced, counts.already) == (1, 1)
    assert _client("ann@example.com").hard_bounces == 1


def test_two_readers_at_once_act_on_each_email_once(
    app, mailbox, via_sink, mailing_for, run_jobs, sending_config, monkeypatch
):
    sending_config(HARD_BOUNCE_LIMIT=5)
    monkeypatch.setattr(inbox, "CHUNK", 2)  # several chunks, for the readers to race
    addresses = [f"client{n}@example.com" for n in range(8)]
    _, run_id, received = _send(via_sink, mailing_for, run_jobs, *addresses)
    for address in addresses[:4]:
        mailbox.append(_email(_mailto_subject(received[address])))
    for address in addresses[4:]:
        mailbox.append(_report(received[address]))
    mailbox.append(_email("Hello there"))
    db.session.remove()

    start = threading.Barrier(2)
    results, errors = [], []

    def reader():
        with app.app_context():
            try:
                start.wait(10)
                results.append(inbox.read_inbox())
            except BaseException as error:
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    total = inbox.Counts()
    for counts in results:
        total.add(counts)
    assert (total.unsubscribed, total.bounced, total.left_alone, total.already) == (4, 4, 1, 0)
    assert [_client(a).hard_bounces for a in addresses] == [0] * 4 + [1] * 4
    assert len(_reported_attempts()) == 4
    assert tallies.counts(run_id).attempts == 12


# -- the mailbox stays as it was ----------------------------------------------------------


def test_other_mail_is_left_unread_in_place_and_counted(mailbox, user):
    from tests import factories

    ann = factories.make_client(user, "ann@example.com")
    mailbox.append(_email("A question about your newsletter", body="Hello!"))
    mailbox.append(_email("Already read", body="..."), flags="\\Seen")
    mailbox.append(_email(f"unsubscribe {unsubscribe_token(ann.id, ann.email)}"))

    counts = inbox.read_inbox()

    assert (counts.left_alone, counts.unsubscribed) == (2, 1)
    assert mailbox.count() == 3  # nothing deleted or moved
    flags = mailbox.flags()
    assert b"\\Seen" not in flags[0]
    assert b"\\Seen" in flags[1]
    assert b"\\Seen" not in flags[2]  # acted on, and still unread
    # Opened read-only (EXAMINE), the folder keeps even its per-session state: a mail
    # program still shows these emails as new (RFC 3501: they keep \Recent).
    assert all(b"\\Recent" in flag for flag in flags)


def test_an_unreadable_or_too_large_report_is_skipped_and_the_rest_go_on(
    mailbox, via_sink, mailing_for, run_jobs, user, monkeypatch, caplog
):
    from tests import factories

    _, _, received = _send(via_sink, mailing_for, run_jobs, "ann@example.com")
    bob = factories.make_client(user, "bob@example.com")
    carol = factories.make_client(user, "carol@example.com")
    # Python's email package fails on this Message-ID in a report's returned headers.
    broken = (
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <a@\r\n\r\n--B--\r\n"
    )
    mailbox.append(broken)
    big_report = _report(received["ann@example.com"]).replace(
        b"could not be delivered.", b"could not be delivered." + b" padding" * 1000
    )
    mailbox.append(big_report)
    # A request's size does not matter: only its subject is read.
    token = unsubscribe_token(bob.id, bob.email)
    mailbox.append(_email(f"unsubscribe {token}", body="quoted text " * 1000))
    monkeypatch.setattr(imap, "MAX_MESSAGE_BYTES", 4000)

    with caplog.at_level(logging.WARNING, logger="mailer.delivery"):
        counts = inbox.read_inbox()

    assert (counts.skipped, counts.unsubscribed, counts.bounced) == (2, 1, 0)
    assert "email UID 1 cannot be read (IndexError): skipped" in caplog.text
    assert "email UID 2 is larger than 4000 bytes: skipped" in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert _client("ann@example.com").hard_bounces == 0
    # The mark went past them: the next read starts after, not at the broken one.
    mailbox.append(_email(f"unsubscribe {unsubscribe_token(carol.id, carol.email)}"))
    later = inbox.read_inbox()
    assert (later.skipped, later.unsubscribed) == (0, 1)


def test_a_folder_named_in_russian_is_read(app, mailbox, dovecot, user, monkeypatch):
    from tests import factories
    from tests.test_delivery.imap_server import Folder

    ann = factories.make_client(user, "ann@example.com")
    bounces = Folder(dovecot, "&BB4EQgQ6BDAENwRL-")  # "Отказы" as IMAP writes it
    bounces.append(_email(f"unsubscribe {unsubscribe_token(ann.id, ann.email)}"))
    monkeypatch.setitem(app.config, "INBOX_FOLDER", "Отказы")

    assert inbox.read_inbox().unsubscribed == 1


# -- failures --------------------------------------------------------------------------


def test_a_wrong_password_is_one_line_in_the_log_and_the_cli_exits_1(
    app, mailbox, monkeypatch, caplog
):
    monkeypatch.setitem(app.config, "INBOX_PASSWORD", "not-the-password")

    with caplog.at_level(logging.WARNING, logger="mailer.delivery.jobs"):
        assert "error" in jobs.read_inbox_job()
    [record] = caplog.records
    assert record.exc_info is None
    assert "refused the login of n***@mailer.example" in record.getMessage()
    assert "INBOX_PASSWORD" in record.getMessage()
    assert "not-the-password" not in caplog.text

    result = app.test_cli_runner().invoke(args=["read-inbox"])
    assert result.exit_code == 1
    assert "INBOX_PASSWORD" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_unreachable_server_or_a_missing_folder_names_the_setting(app, mailbox, monkeypatch):
    from tests.test_delivery.conftest import free_port

    monkeypatch.setitem(app.config, "INBOX_FOLDER", "No-Such-Folder")
    with pytest.raises(inbox.InboxError, match="INBOX_FOLDER='No-Such-Folder'"):
        inbox.read_inbox()
    monkeypatch.setitem(app.config, "INBOX_PORT", free_port())  # nothing listens there
    with pytest.raises(inbox.InboxError, match=r"cannot reach INBOX_SERVER 127\.0\.0\.1"):
        inbox.read_inbox()


def test_a_tls_connection_to_a_plain_server_names_the_ssl_setting(app, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "INBOX_USE_SSL", True)
    with pytest.raises(inbox.InboxError, match="INBOX_USE_SSL"):
        inbox.read_inbox()


def test_the_inbox_is_read_in_tls_once_ssl_cert_file_trusts_its_certificate(
    app, tls_mailbox, tls_dovecot, user, monkeypatch
):
    from tests import factories

    ann = factories.make_client(user, "ann@example.com")
    tls_mailbox.append(_email(f"unsubscribe {unsubscribe_token(ann.id, ann.email)}"))
    with pytest.raises(inbox.InboxError, match="not trusted.*point SSL_CERT_FILE"):
        inbox.read_inbox()
    assert _client("ann@example.com").unsubscribed_at is None

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_dovecot.certificate[0]))
    assert inbox.read_inbox().unsubscribed == 1
    assert _client("ann@example.com").unsubscribed_at is not None


def test_a_server_that_takes_no_login_without_tls_names_the_tls_settings(
    app, mailbox, tls_dovecot, monkeypatch
):
    """The app set to read in clear (`mailbox`), from the TLS server's plain port."""
    monkeypatch.setitem(app.config, "INBOX_SERVER", tls_dovecot.addresses[-1])  # not "its own"
    monkeypatch.setitem(app.config, "INBOX_PORT", tls_dovecot.port)
    with pytest.raises(inbox.InboxError, match="no login without TLS.*INBOX_USE_TLS=True"):
        inbox.read_inbox()


def test_starttls_to_a_server_that_does_not_offer_it_names_the_setting(app, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "INBOX_USE_TLS", True)
    with pytest.raises(inbox.InboxError, match="does not start TLS.*INBOX_USE_TLS"):
        inbox.read_inbox()


# -- running it ----------------------------------------------------------------------------


def test_flask_read_inbox_prints_what_it_did(app, mailbox, user):
    from tests import factories

    ann = factories.make_client(user, "ann@example.com")
    mailbox.append(_email(f"unsubscribe {unsubscribe_token(ann.id, ann.email)}"))
    mailbox.append(_email("Hello"))

    result = app.test_cli_runner().invoke(args=["read-inbox"])

    assert result.exit_code == 0, result.output
    assert result.output == "Read the inbox: 1 unsubscribed, 0 bounced, 1 left alone.\n"
    again = app.test_cli_runner().invoke(args=["read-inbox"])
    assert again.output == "Read the inbox: 0 unsubscribed, 0 bounced, 0 left alone.\n"


def test_flask_read_inbox_without_a_server_says_how_to_turn_it_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "INBOX_SERVER", None)
    result = app.test_cli_runner().invoke(args=["read-inbox"])
    assert result.exit_code == 1
    assert "INBOX_SERVER is not set" in result.output
    assert "INBOX_SERVER=imap.yandex.ru" in result.output


def test_the_scheduler_reads_the_inbox_only_when_a_server_is_set(app, monkeypatch):
    monkeypatch.setitem(app.config, "INBOX_SERVER", None)
    assert "mailer.delivery.jobs.read_inbox_job" not in {
        job.func for job in scheduler.periodic_jobs(app)
    }
    monkeypatch.setitem(app.config, "INBOX_SERVER", "imap.example.com")
    monkeypatch.setitem(app.config, "INBOX_INTERVAL_SECONDS", 120)
    jobs_defined = scheduler.periodic_jobs(app)
    assert ("mailer.delivery.jobs.read_inbox_job", 120) in {
        (job.func, job.interval_seconds) for job in jobs_defined
    }


def test_the_embedded_loop_reads_the_inbox(app, mailbox, user, monkeypatch):
    from tests import factories
    from tests.waiting import wait_for

    if app.config["REDIS_URL"]:
        pytest.skip("the embedded loop is what runs without Redis")
    ann = factories.make_client(user, "ann@example.com")
    mailbox.append(_email(f"unsubscribe {unsubscribe_token(ann.id, ann.email)}"))
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_embedded, args=(app, stop))
    thread.start()
    try:
        assert wait_for(lambda: _client("ann@example.com").unsubscribed_at is not None)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
