"""Fixtures of the account tests: reading emails from the outbox,
SMTP servers on 127.0.0.1 (plain, and TLS with a self-signed certificate)."""

from __future__ import annotations

import email
import re
import ssl
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

# The sending tests' SMTP sink and the fixture that points MAIL_* at a port.
from tests.test_delivery.conftest import (  # noqa: F401  (fixtures, used by name)
    SinkHandler,
    free_port,
    send_via,
    smtp_sink,
    via_sink,
)


@pytest.fixture
def outbox(app):
    """The emails written so far: a list of email.message.EmailMessage, oldest first."""

    def read() -> list[email.message.EmailMessage]:
        files = sorted(
            Path(app.config["MAIL_OUTBOX"]).glob("*.eml"), key=lambda p: p.stat().st_mtime_ns
        )
        return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]

    return read


def link_in(message, base_url: str) -> str:
    """The first link to this site in an email, as a path the test client can open."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(re.escape(base_url) + r"(/\S+)", text)
    assert match, f"no link to {base_url} in:\n{text}"
    return match.group(1)


@pytest.fixture(params=["ssl", "starttls"])
def tls_sink(request, self_signed_certificate, send_via, monkeypatch):  # noqa: F811
    """An SMTP sink speaking TLS with the self-signed certificate, the app's mail pointed at
    it: implicit TLS (MAIL_USE_SSL, port 465 style) or STARTTLS (MAIL_USE_TLS). Nothing
    trusts the certificate until a test sets SSL_CERT_FILE to `sink.certificate`."""
    cert, key = self_signed_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = SinkHandler()
    tls = {"ssl_context": context} if request.param == "ssl" else {"tls_context": context}
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        require_starttls=request.param == "starttls",
        **tls,
    )
    controller.start()
    handler.certificate = cert
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    send_via(
        controller.port,
        MAIL_USE_SSL=request.param == "ssl",
        MAIL_USE_TLS=request.param == "starttls",
    )
    yield handler
    controller.stop()
