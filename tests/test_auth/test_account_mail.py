"""Account emails over real SMTP: TLS certificates are verified; an international domain is
sent in its ASCII form, letters other than Latin before the @ are refused with a clear
reason, never a 500."""

from __future__ import annotations

import logging
from email.utils import parseaddr

import pytest

from mailer.models import User
from tests import factories
from tests.test_auth.conftest import link_in

GOOD_PASSWORD = "violet-harbour-42"
CYRILLIC = "Новый.Юзер@пример.рф"


def register(client, email="new@example.com", **extra):
    data = {"email": email, "password": GOOD_PASSWORD, "password_confirm": GOOD_PASSWORD}
    return client.post("/auth/register", data={**data, **extra})


# TLS: the server's certificate and name are checked


def test_registration_email_is_not_sent_to_a_server_whose_certificate_is_not_trusted(
    client, tls_sink, caplog
):
    with caplog.at_level(logging.WARNING, logger="mailer.mail"):
        response = register(client, full_name="Nina New")

    assert response.status_code == 200
    assert "We could not send you an email just now" in response.text
    assert 'value="new@example.com"' in response.text
    assert 'value="Nina New"' in response.text
    assert tls_sink.received == []
    assert User.query.count() == 0  # no account waits for a link that never came
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert "SSL_CERT_FILE" in caplog.text  # the log says how to trust a private CA


def test_registration_email_is_sent_once_ssl_cert_file_trusts_the_certificate(
    app, client, tls_sink, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_sink.certificate))

    response = register(client)

    assert response.location == "/auth/login"
    [received] = tls_sink.received
    assert received.rcpt_tos == ["new@example.com"]
    assert received.mail_from == "news@mailer.example"
    assert link_in(received.message, app.config["BASE_URL"]).startswith("/auth/confirm/")
    assert User.by_email("new@example.com") is not None


def test_account_email_is_not_sent_when_the_certificate_names_another_host(
    client, tls_sink, send_via, monkeypatch, caplog
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_sink.certificate))
    # Trusted, but made for 127.0.0.1 only: reached as "localhost" it must be refused.
    monkeypatch.setitem(client.application.config, "MAIL_SERVER", "localhost")

    with caplog.at_level(logging.WARNING, logger="mailer.mail"):
        response = register(client)

    assert response.status_code == 200
    assert tls_sink.received == []
    assert "Hostname mismatch" in caplog.text
    assert "MAIL_SERVER must be a name the server's certificate is made for" in caplog.text


def test_reset_request_to_an_untrusted_server_answers_as_usual_and_logs_why(
    client, tls_sink, user, caplog
):
    with caplog.at_level(logging.WARNING, logger="mailer.mail"):
        response = client.post("/auth/reset", data={"email": user.email}, follow_redirects=True)

    # The same answer as for an unknown address: a failure must not tell who has an account.
    assert response.status_code == 200
    assert "If that address has an account" in response.text
    assert tls_sink.received == []
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


# Addresses that are not ASCII


@pytest.mark.parametrize("mail", ["outbox", "smtp"])
def test_an_address_with_letters_other_than_latin_before_the_at_is_a_form_error(
    client, request, mail
):
    sink = request.getfixturevalue("outbox" if mail == "outbox" else "via_sink")

    response = register(client, email=CYRILLIC, full_name="Новый Юзер")

    assert response.status_code == 200
    assert "letters other than Latin before the @" in response.text
    assert f'value="{CYRILLIC}"' in response.text
    assert 'value="Новый Юзер"' in response.text
    assert (sink() if mail == "outbox" else sink.received) == []
    assert User.query.count() == 0


def test_an_international_domain_is_sent_in_its_ascii_form(client, via_sink):
    via_sink.smtputf8 = False

    response = register(client, email="nina@пример.рф")

    assert response.location == "/auth/login"
    assert [r.rcpt_tos for r in via_sink.received] == [["nina@xn--e1afmkfd.xn--p1ai"]]
    assert User.query.one().email == "nina@пример.рф"


def test_account_email_has_its_message_id_in_the_senders_domain(app, client, via_sink):
    """As a mailing's emails have, instead of this machine's name (often "localhost")."""
    register(client)

    [received] = via_sink.received
    sender = parseaddr(app.config["MAIL_DEFAULT_SENDER"])[1]  # Sender <news@mailer.example>
    assert received.message["Message-ID"].endswith(f"@{sender.rpartition('@')[2]}>")


def test_address_the_server_refuses_is_a_form_error(client, via_sink):
    via_sink.rcpt_replies["new@example.com"] = ["550 5.1.1 no such mailbox"]

    response = register(client)

    assert response.status_code == 200
    assert "refused this address" in response.text
    assert User.query.count() == 0


@pytest.mark.parametrize(("path", "confirmed"), [("/auth/reset", True), ("/auth/confirm", False)])
def test_new_link_to_a_cyrillic_address_answers_as_usual(client, via_sink, path, confirmed):
    factories.make_user(CYRILLIC, confirmed=confirmed)

    response = client.post(path, data={"email": CYRILLIC})

    assert response.location == "/auth/login"
    assert via_sink.received == []
