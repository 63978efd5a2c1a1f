"""The SMTP transport: whole emails over one connection, pipelined when the server offers it,
every refusal answered with the server's reply."""

from __future__ import annotations

import socket

import pytest

from mailer.delivery.transport import SmtpTransport, transport_from_config
from tests.test_auth.conftest import tls_sink  # noqa: F401  (a fixture, used by name)
from tests.test_delivery.conftest import free_port

SENDER = "news@example.com"
# Lines that start with a dot, and a line that is only a dot: DATA must not end there.
MESSAGE = (
    b"From: news@example.com\r\nSubject: dots\r\n\r\n"
    b"first\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast"
)


@pytest.fixture(params=["lockstep", "pipelining"])
def sink(request, smtp_sink):
    smtp_sink.pipelining = request.param == "pipelining"
    return smtp_sink


_CONFIG = {
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_USE_SSL": False,
    "MAIL_USE_TLS": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_TIMEOUT": 5,
}


def _transport(port: int) -> SmtpTransport:
    return SmtpTransport({**_CONFIG, "MAIL_PORT": port})


@pytest.fixture
def transport(sink):
    transport = _transport(sink.port)
    yield transport
    transport.close()


def _bodies(sink) -> dict[str, bytes]:
    return {item.rcpt_tos[0]: item.data for item in sink.received}


def test_emails_arrive_whole_over_one_connection(sink, transport):
    replies = [transport.send(SENDER, f"c{n}@example.com", MESSAGE) for n in range(3)]
    assert [(r.code, r.ok, r.stage) for r in replies] == [(250, True, "data")] * 3
    assert "queued" in replies[0].text
    assert transport.pipelining is sink.pipelining
    assert sink.connections == 1
    assert _bodies(sink) == {f"c{n}@example.com": MESSAGE + b"\r\n" for n in range(3)}
    assert {item.mail_from for item in sink.received} == {SENDER}


def test_refused_recipient_fails_alone_and_the_connection_goes_on(sink, transport):
    sink.rcpt_replies["bad@example.com"] = ["550 5.1.1 No such user"]
    refused = transport.send(SENDER, "bad@example.com", MESSAGE)
    accepted = transport.send(SENDER, "ann@example.com", MESSAGE)
    assert (refused.code, refused.stage, refused.permanent) == (550, "rcpt", True)
    assert "No such user" in refused.text
    assert accepted.ok
    assert list(_bodies(sink)) == ["ann@example.com"]
    assert sink.connections == 1


def test_temporary_refusal_is_not_permanent(sink, transport):
    sink.rcpt_replies["ann@example.com"] = ["451 4.3.0 Greylisted"]
    reply = transport.send(SENDER, "ann@example.com", MESSAGE)
    assert (reply.code, reply.stage, reply.ok, reply.permanent) == (451, "rcpt", False, False)
    assert transport.send(SENDER, "ann@example.com", MESSAGE).ok
    assert list(_bodies(sink)) == ["ann@example.com"]


def test_421_closes_the_connection_and_the_next_email_reconnects(sink, transport):
    sink.rcpt_replies["bob@example.com"] = ["421 4.7.0 Try again later, closing"]
    reply = transport.send(SENDER, "bob@example.com", MESSAGE)
    assert (reply.code, reply.stage) == (421, "rcpt")
    assert transport.send(SENDER, "cat@example.com", MESSAGE).ok
    assert sink.connections == 2


def test_message_refused_after_data_keeps_the_reply(sink, transport):
    sink.data_replies["ann@example.com"] = ["554 5.7.1 Rejected as spam"]
    reply = transport.send(SENDER, "ann@example.com", MESSAGE)
    assert (reply.code, reply.stage, reply.permanent) == (554, "data", True)
    assert "spam" in reply.text
    assert transport.send(SENDER, "bob@example.com", MESSAGE).ok
    assert list(_bodies(sink)) == ["bob@example.com"]


def test_dropped_connection_is_a_reply_without_code_then_reconnects(sink, transport):
    sink.drop_at.add("bob@example.com")
    reply = transport.send(SENDER, "bob@example.com", MESSAGE)
    assert (reply.code, reply.stage) == (None, "rcpt")
    assert reply.text == "connection dropped during rcpt"
    assert transport.send(SENDER, "cat@example.com", MESSAGE).ok
    assert sink.connections == 2


def test_refused_connection_is_a_reply_without_code():
    reply = _transport(free_port()).send(SENDER, "ann@example.com", MESSAGE)
    assert reply == (None, "connection refused", "connect")


def test_a_server_that_never_answers_is_a_time_out_not_a_closed_connection():
    """Accepted and never greeted (an implicit-TLS port asked in plain text does so):
    smtplib words it as a closed connection, which sent the operator looking elsewhere."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections wait in its backlog: nobody says a word
        port = silent.getsockname()[1]
        transport = SmtpTransport({**_CONFIG, "MAIL_PORT": port, "MAIL_TIMEOUT": 0.5})

        reply = transport.send(SENDER, "ann@example.com", MESSAGE)

    assert reply == (None, "timed out during connect", "connect")


def test_a_certificate_nobody_trusts_says_how_to_trust_one(app, tls_sink):  # noqa: F811
    transport = transport_from_config(app.config)

    reply = transport.send(SENDER, "ann@example.com", MESSAGE)

    assert (reply.code, reply.stage) == (None, "connect")
    assert "CERTIFICATE_VERIFY_FAILED" in reply.text
    assert "to trust a private CA, point SSL_CERT_FILE at a file with its certificate" in reply.text
    assert tls_sink.received == []


def test_next_envelope_goes_out_behind_a_message_and_is_used_once(sink, transport):
    first = transport.send(SENDER, "ann@example.com", MESSAGE, following="bob@example.com")
    assert first.ok
    assert transport.announced == (
        ("news@example.com", "bob@example.com") if sink.pipelining else None
    )
    assert transport.send(SENDER, "bob@example.com", MESSAGE).ok
    assert _bodies(sink) == {a: MESSAGE + b"\r\n" for a in ("ann@example.com", "bob@example.com")}
    assert sink.connections == 1


def test_envelope_sent_ahead_without_its_message_delivers_nothing(sink, transport):
    transport.send(SENDER, "ann@example.com", MESSAGE, following="bob@example.com")
    transport.close()  # as after a delivery that could not be marked "sending"
    assert transport.send(SENDER, "cat@example.com", MESSAGE).ok
    assert sorted(_bodies(sink)) == ["ann@example.com", "cat@example.com"]


def test_sending_another_email_than_announced_drops_the_announced_one(sink, transport):
    transport.send(SENDER, "ann@example.com", MESSAGE, following="bob@example.com")
    assert transport.send(SENDER, "cat@example.com", MESSAGE).ok
    assert _bodies(sink) == {a: MESSAGE + b"\r\n" for a in ("ann@example.com", "cat@example.com")}


def test_refused_message_keeps_the_envelope_sent_behind_it(sink, transport):
    sink.data_replies["ann@example.com"] = ["554 5.7.1 Rejected"]
    refused = transport.send(SENDER, "ann@example.com", MESSAGE, following="bob@example.com")
    assert (refused.code, refused.stage) == (554, "data")
    assert transport.send(SENDER, "bob@example.com", MESSAGE).ok
    assert list(_bodies(sink)) == ["bob@example.com"]
    assert sink.connections == 1


def test_closing_reply_drops_the_envelope_sent_behind_it(sink, transport):
    sink.data_replies["ann@example.com"] = ["421 4.3.2 Shutting down"]
    refused = transport.send(SENDER, "ann@example.com", MESSAGE, following="bob@example.com")
    assert (refused.code, refused.stage) == (421, "data")
    assert transport.send(SENDER, "bob@example.com", MESSAGE).ok
    assert list(_bodies(sink)) == ["bob@example.com"]
    assert sink.connections == 2


def test_non_ascii_address_goes_out_with_smtputf8(sink, transport):
    assert transport.send(SENDER, "иван@example.com", MESSAGE).ok
    assert list(_bodies(sink)) == ["иван@example.com"]


def test_international_domain_goes_out_in_ascii_to_any_server(sink, transport):
    sink.smtputf8 = False
    assert transport.send(SENDER, "ivan@пример.рф", MESSAGE).ok
    assert transport.send(SENDER, "иван@пример.рф", MESSAGE).code == 553  # needs SMTPUTF8
    sink.smtputf8 = True
    transport.close()  # the next connection reads the server's extensions again
    assert transport.send(SENDER, "иван@пример.рф", MESSAGE).ok
    assert list(_bodies(sink)) == ["ivan@xn--e1afmkfd.xn--p1ai", "иван@xn--e1afmkfd.xn--p1ai"]


def test_non_ascii_address_without_smtputf8_fails_for_good_before_the_server(sink, transport):
    sink.smtputf8 = False
    reply = transport.send(SENDER, "иван@example.com", MESSAGE)
    assert (reply.code, reply.stage, reply.permanent) == (553, "address", True)
    assert "SMTPUTF8" in reply.text
    assert transport.send(SENDER, "ann@example.com", MESSAGE).ok
    assert list(_bodies(sink)) == ["ann@example.com"]
    assert sink.connections == 1
