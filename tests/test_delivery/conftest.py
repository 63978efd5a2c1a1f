"""Fixtures for sending: an aiosmtpd SMTP sink on 127.0.0.1, mailings with clients, jobs.

The sink can be told to answer a recipient with a given reply (421, 451,
550...) a number of times, to drop the connection at a recipient, or to stall
on one until released; it records every email it accepted.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.policy import default as default_policy
from functools import partial

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import insert, select

from mailer.delivery import dispatch, jobs, ratelimit
from mailer.extensions import db
from mailer.models import Attempt, Client, Delivery, mailing_clients
from tests import factories
from tests.queued import run_queued_jobs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.data, policy=default_policy)


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    # Replies to give at MAIL FROM, one per try (whatever the sender); then accepted.
    mail_replies: list[str] = field(default_factory=list)
    # recipient -> replies to give at RCPT, one per try; accepted once they run out.
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    data_replies: dict[str, list[str]] = field(default_factory=dict)
    drop_at: set[str] = field(default_factory=set)  # close the connection at this RCPT, once
    stall_at: set[str] = field(default_factory=set)  # hang at DATA until released
    released: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Offer PIPELINING (RFC 2920), as most servers do. aiosmtpd reads commands one by
    # one from the stream, so pipelined ones work; it just does not say so itself.
    pipelining: bool = False
    smtputf8: bool = True  # aiosmtpd's Controller offers SMTPUTF8

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        if not self.smtputf8:
            responses = [line for line in responses if "SMTPUTF8" not in line]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.drop_at:
            self.drop_at.discard(address)
            server.transport.close()
            return "421 dropping"
        replies = self.rcpt_replies.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        [recipient] = envelope.rcpt_tos
        if recipient in self.stall_at:
            self.stalled.set()
            for _ in range(600):  # at most a minute, then go on as usual
                if self.released.is_set():
                    break
                await asyncio.sleep(0.1)
        replies = self.data_replies.get(recipient)
        if replies:
            return replies.pop(0)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 2.0.0 Ok: queued"

    def to_counts(self) -> Counter:
        return Counter(address for item in self.received for address in item.rcpt_tos)

    def by_recipient(self) -> dict[str, Received]:
        return {item.rcpt_tos[0]: item for item in self.received}


@pytest.fixture
def smtp_sink():
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    handler.released.set()
    controller.stop()


@pytest.fixture
def send_via(app, monkeypatch):
    """Point the app's mail settings at an SMTP port (the sink's, or a closed one)."""

    def configure(port: int, **settings):
        for name, value in {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
            "MAIL_USE_SSL": False,
            "MAIL_USE_TLS": False,
            "MAIL_USERNAME": None,
            "MAIL_PASSWORD": None,
            "MAIL_OUTBOX": None,
            "MAIL_TIMEOUT": 5,
            "MAIL_DEFAULT_SENDER": "Sender <news@mailer.example>",
            **settings,
        }.items():
            monkeypatch.setitem(app.config, name, value)

    return configure


@pytest.fixture
def via_sink(smtp_sink, send_via):
    send_via(smtp_sink.port)
    return smtp_sink


@pytest.fixture
def sending_config(app, monkeypatch):
    """Sending settings for a test; retries wait 0 s so the next tick picks them up."""

    def configure(**settings):
        for name, value in settings.items():
            monkeypatch.setitem(app.config, name, value)

    configure(SEND_RETRY_BASE_SECONDS=0, SEND_BATCH_SIZE=200)
    ratelimit.reset_local_counters()
    yield configure
    ratelimit.reset_local_counters()


@pytest.fixture
def run_jobs(app):
    """Run what was enqueued (`run_queued_jobs`)."""
    return partial(run_queued_jobs, app)


def add_clients(owner, mailing, count: int, *, prefix: str = "client") -> list[int]:
    """`count` clients (prefix-N@example.com, full name "Name N") in the mailing, in bulk."""
    rows = [
        {
            "owner_id": owner.id,
            "email": f"{prefix}-{n}@example.com",
            "full_name": f"Name {n}",
            "comment": f"comment {n}",
            "hard_bounces": 0,
        }
        for n in range(count)
    ]
    db.session.execute(insert(Client), rows)
    ids = list(
        db.session.scalars(
            select(Client.id).where(Client.email.like(f"{prefix}-%")).order_by(Client.id)
        )
    )
    db.session.execute(
        insert(mailing_clients), [{"mailing_id": mailing.id, "client_id": i} for i in ids]
    )
    db.session.commit()
    return ids


@pytest.fixture
def mailing_for(user, sending_config, fresh_queue):
    """A due 'once' mailing of `user` to the clients given by email."""

    def make(*emails: str, **fields):
        clients = [
            factories.make_client(user, email, full_name=email.split("@")[0].title())
            for email in emails
        ]
        message = factories.make_message(
            user,
            subject="News for {{ client.full_name }}",
            body_text=(
                "Dear {{ client.full_name }} <{{ client.email }}>\nLeave: {{ unsubscribe_url }}"
            ),
            body_html="<p>Dear <b>{{ client.full_name }}</b></p>",
        )
        return factories.make_mailing(user, message=message, clients=clients, **fields)

    return make


def while_the_sink_holds_one(app, sink, run_id: int, batch: list[int], action) -> dict:
    """A worker thread sends `batch`; `action` runs while the sink holds the email of a
    recipient in `sink.stall_at` (the SMTP transaction is under way), then the sink goes on.
    The job must end without an error; returns what it returned."""
    errors: list[BaseException] = []
    returned: list[dict] = []

    def worker_on_the_batch():
        with app.app_context():
            try:
                returned.append(jobs.send_batch_job(run_id, batch))
            except BaseException as error:
                errors.append(error)

    worker = threading.Thread(target=worker_on_the_batch)
    worker.start()
    assert sink.stalled.wait(30)
    action()
    sink.released.set()
    worker.join(30)
    assert not worker.is_alive()
    assert errors == []
    return returned[0]


@pytest.fixture
def send_holding_client_1(app, via_sink, mailing_for, user):
    """Send a forced run to client-0, -1 and -2 (one batch) in a worker thread, calling
    `action()` while the sink holds client-1's email; returns the run's id."""

    def send(action) -> int:
        mailing = mailing_for()
        add_clients(user, mailing, 3)
        via_sink.stall_at.add("client-1@example.com")
        run_id = dispatch.start_forced_run(mailing.id)
        (batch,) = dispatch.run_batches(run_id)
        while_the_sink_holds_one(app, via_sink, run_id, batch, action)
        return run_id

    return send


def logged_links() -> list[tuple[str, bool, bool]]:
    """Each attempt's recipient, and whether it still names its client and its delivery."""
    logged = db.session.scalars(select(Attempt).order_by(Attempt.recipient, Attempt.id))
    return [(a.recipient, a.client_id is not None, a.delivery_id is not None) for a in logged]


def statuses(run_id: int | None = None) -> Counter:
    query = select(Delivery.status)
    if run_id is not None:
        query = query.where(Delivery.run_id == run_id)
    db.session.expire_all()
    return Counter(db.session.scalars(query))


def attempts_for(email_address: str) -> list[Attempt]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Attempt).where(Attempt.recipient == email_address).order_by(Attempt.id)
        )
    )


def _running_dovecot(certificate=None):
    from tests.test_delivery.imap_server import Dovecot, missing

    reason = missing()
    if reason:
        pytest.skip(reason)
    server = Dovecot(certificate)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot():
    """A real IMAP server (Debian's dovecot) for the session; a skip when it is missing."""
    yield from _running_dovecot()


@pytest.fixture(scope="session")
def tls_dovecot(self_signed_certificate):
    """The same with the self-signed certificate, taking a login only in TLS."""
    yield from _running_dovecot(self_signed_certificate)


def _folder_read_by_the_app(app, server, monkeypatch, **settings):
    """A new folder of the test server's mailbox, and the app reading it (INBOX_*)."""
    import uuid

    from tests.test_delivery.imap_server import PASSWORD, USERNAME, Folder

    folder = Folder(server, f"Inbox-{uuid.uuid4().hex[:8]}")
    for name, value in {
        "INBOX_SERVER": "127.0.0.1",
        "INBOX_PORT": server.port,
        "INBOX_USE_SSL": False,
        "INBOX_USE_TLS": False,
        "INBOX_USERNAME": USERNAME,
        "INBOX_PASSWORD": PASSWORD,
        "INBOX_FOLDER": folder.name,
        "MAIL_TIMEOUT": 5,
        **settings,
    }.items():
        monkeypatch.setitem(app.config, name, value)
    return folder


@pytest.fixture
def mailbox(app, dovecot, monkeypatch, sending_config):
    """A folder of the plain test server, read by the app."""
    return _folder_read_by_the_app(app, dovecot, monkeypatch)


@pytest.fixture(params=["ssl", "starttls"])
def tls_mailbox(request, app, tls_dovecot, monkeypatch, sending_config):
    """A folder of the TLS test server, read by the app in TLS from the start
    (INBOX_USE_SSL, its own port) or after STARTTLS (INBOX_USE_TLS). Nothing trusts the
    certificate until a test sets SSL_CERT_FILE to it (`tls_dovecot.certificate[0]`)."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    if request.param == "ssl":
        settings = {"INBOX_USE_SSL": True, "INBOX_PORT": tls_dovecot.tls_port}
    else:
        settings = {"INBOX_USE_TLS": True}
    return _folder_read_by_the_app(app, tls_dovecot, monkeypatch, **settings)
