"""One personalised email per client per run, with only that client in To:."""

from __future__ import annotations

from datetime import timedelta

from mailer.delivery import dispatch
from mailer.delivery.mime import message_id_key, message_id_signer
from mailer.delivery.unsubscribe import client_for_token
from mailer.extensions import db
from mailer.models import Attempt, Client, Mailing, Message, Run
from tests import factories
from tests.test_delivery.conftest import (
    add_clients,
    logged_links,
    statuses,
    while_the_sink_holds_one,
)


def test_each_client_receives_one_email_addressed_to_them_alone(via_sink, mailing_for, run_jobs):
    mailing = mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    assert dispatch.dispatch_due() == 1
    run_jobs()
    assert via_sink.to_counts() == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
    }
    for address, item in via_sink.by_recipient().items():
        message = item.message
        assert message["To"] == address
        assert "Cc" not in message
        assert "Bcc" not in message
        name = address.split("@")[0].title()
        assert message["Subject"] == f"News for {name}"
        text = message.get_body(("plain",)).get_content()
        assert f"Dear {name} <{address}>" in text
        html = message.get_body(("html",)).get_content()
        assert f"<b>{name}</b>" in html
    assert statuses() == {"sent": 3}
    run = db.session.scalar(db.select(Run).where(Run.mailing_id == mailing.id))
    assert run.finished_at is not None


def test_a_run_sends_the_message_as_it_began_and_the_next_run_sends_the_edit(
    app, via_sink, mailing_for, sending_config, user, run_jobs
):
    """A run is sent in batches, each of which read the message anew: an edit saved during
    a send reached the clients of the later batches, and one run sent two emails."""
    sending_config(SEND_BATCH_SIZE=3)
    mailing = mailing_for()
    add_clients(user, mailing, 6)
    via_sink.stall_at.add("client-1@example.com")  # the second email of the first batch
    run_id = dispatch.start_forced_run(mailing.id)
    first, *_rest = dispatch.run_batches(run_id)

    def edit() -> None:
        db.session.execute(
            db.update(Message)
            .where(Message.id == mailing.message_id)
            .values(subject="Edited during the send")
        )
        db.session.commit()

    while_the_sink_holds_one(app, via_sink, run_id, first, edit)
    dispatch.enqueue_run(run_id)  # the later batches reach a worker
    run_jobs()

    subjects = {item.message["Subject"] for item in via_sink.by_recipient().values()}
    assert len(via_sink.received) == 6
    assert subjects == {f"News for Name {n}" for n in range(6)}
    run = db.session.get(Run, run_id)
    db.session.refresh(run)
    assert (run.finished_at is not None, run.subject, run.body_text) == (True, None, None)
    via_sink.received.clear()
    dispatch.enqueue_run(dispatch.start_forced_run(mailing.id))
    run_jobs()
    assert {item.message["Subject"] for item in via_sink.by_recipient().values()} == {
        "Edited during the send"
    }


def test_emails_come_from_the_owners_sender_name_and_replies_go_to_their_address(
    app, via_sink, mailing_for, user, other_user, run_jobs
):
    user.sender_name, user.reply_to = "Anna's Bakery", "anna@bakery.example"
    db.session.commit()
    mailing_for("ann@example.com")
    factories.make_mailing(
        other_user, clients=[factories.make_client(other_user, "bob@example.com")]
    )
    dispatch.dispatch_due()
    run_jobs()
    configured = app.config["MAIL_DEFAULT_SENDER"]  # "Sender <news@mailer.example>"
    received = via_sink.by_recipient()
    ann, bob = received["ann@example.com"], received["bob@example.com"]
    assert ann.message["From"] == "Anna's Bakery <news@mailer.example>"  # the account's address
    assert ann.message["Reply-To"] == "anna@bakery.example"
    assert ann.mail_from == "news@mailer.example"
    assert (bob.message["From"], bob.message["Reply-To"]) == (configured, None)  # set nothing


def test_a_client_at_an_international_domain_gets_it_from_a_server_without_smtputf8(
    via_sink, mailing_for, run_jobs
):
    via_sink.smtputf8 = False  # as most servers: only ASCII addresses
    mailing_for("nina@пример.рф")
    assert dispatch.dispatch_due() == 1
    run_jobs()
    [(address, item)] = via_sink.by_recipient().items()
    assert address == "nina@xn--e1afmkfd.xn--p1ai"
    assert item.message["To"] == address
    text = item.message.get_body(("plain",)).get_content()
    assert "Dear Nina <nina@пример.рф>" in text  # the body keeps the address as typed
    assert statuses() == {"sent": 1}


def test_each_email_has_a_unique_message_id_and_unsubscribe_headers(
    app, via_sink, mailing_for, run_jobs
):
    mailing = mailing_for("ann@example.com", "bob@example.com")
    dispatch.dispatch_due()
    run_jobs()
    run_id = db.session.scalar(db.select(Run.id).where(Run.mailing_id == mailing.id))
    key = message_id_key(app.config["SECRET_KEY"])
    messages = [item.message for item in via_sink.received]
    assert len({m["Message-ID"] for m in messages}) == 2
    for message in messages:
        # Signed for its run and client, so a bounce report that returns it names them.
        client = db.session.scalar(db.select(Client).where(Client.email == message["To"]))
        signature = message_id_signer(key, run_id)(client.id)
        assert message["Message-ID"] == f"<{signature}.{run_id}@mailer.example>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        links = message["List-Unsubscribe"]
        assert "<http" in links
        assert "<mailto:news@mailer.example?subject=unsubscribe" in links
        url = links.split("<", 1)[1].split(">", 1)[0]
        client = client_for_token(url.rsplit("/u/", 1)[1])
        assert client.email == message["To"]
        text = message.get_body(("plain",)).get_content()
        assert url in text


def test_message_without_html_is_sent_as_plain_text(via_sink, user, sending_config, run_jobs):
    from tests import factories

    client = factories.make_client(user, "ann@example.com", full_name="Ann")
    message = factories.make_message(user, subject="Hi", body_text="Привет, {{ client.full_name }}")
    factories.make_mailing(user, message=message, clients=[client])
    dispatch.dispatch_due()
    run_jobs()
    [item] = via_sink.received
    assert item.message.get_content_type() == "text/plain"
    assert item.message.get_content().strip() == "Привет, Ann"


def test_every_successful_send_is_an_attempt_with_the_server_reply(via_sink, mailing_for, run_jobs):
    mailing = mailing_for("ann@example.com", "bob@example.com")
    dispatch.dispatch_due()
    run_jobs()
    attempts = db.session.scalars(db.select(Attempt).order_by(Attempt.recipient)).all()
    assert [(a.recipient, a.success, a.reply_code) for a in attempts] == [
        ("ann@example.com", True, 250),
        ("bob@example.com", True, 250),
    ]
    assert all("queued" in a.reply for a in attempts)
    assert {a.mailing_id for a in attempts} == {mailing.id}
    assert {a.owner_id for a in attempts} == {mailing.owner_id}


def test_a_large_run_is_sent_in_batches_over_one_connection_each(
    via_sink, mailing_for, sending_config, run_jobs, user
):
    sending_config(SEND_BATCH_SIZE=10)
    mailing = mailing_for()
    add_clients(user, mailing, 35)
    dispatch.dispatch_due()
    run_jobs()
    assert len(via_sink.received) == 35
    assert set(via_sink.to_counts().values()) == {1}
    assert via_sink.connections == 4  # one per batch of 10


def test_unsubscribed_and_bounced_clients_receive_nothing(via_sink, mailing_for, run_jobs):
    from mailer.models import utcnow

    mailing = mailing_for("ann@example.com", "gone@example.com", "bounced@example.com")
    db.session.execute(
        db.update(Client).where(Client.email == "gone@example.com").values(unsubscribed_at=utcnow())
    )
    db.session.execute(
        db.update(Client).where(Client.email == "bounced@example.com").values(bounced_at=utcnow())
    )
    db.session.commit()
    dispatch.dispatch_due()
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}
    assert statuses() == {"sent": 1}
    assert db.session.get(Mailing, mailing.id).status == "completed"


def test_client_unsubscribed_after_dispatch_is_not_sent_to(via_sink, mailing_for, run_jobs):
    from mailer.models import utcnow

    mailing_for("ann@example.com", "bob@example.com")
    dispatch.dispatch_due()  # without Redis this already sent; with Redis the jobs wait
    if via_sink.received:
        return  # in-process jobs ran at once: nothing was waiting to skip
    db.session.execute(
        db.update(Client).where(Client.email == "bob@example.com").values(unsubscribed_at=utcnow())
    )
    db.session.commit()
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}
    assert statuses() == {"sent": 1, "cancelled": 1}


def test_client_deleted_after_dispatch_is_not_sent_to_and_the_run_finishes(
    via_sink, mailing_for, run_jobs
):
    from mailer.mailings.client_services import delete_client

    mailing = mailing_for("ann@example.com", "bob@example.com")
    dispatch.enqueue_run(dispatch.start_forced_run(mailing.id))
    run_jobs()
    second = dispatch.start_forced_run(mailing.id)  # deliveries created, not yet sent
    delete_client(client=next(c for c in mailing.clients if c.email == "ann@example.com"))
    db.session.commit()
    dispatch.enqueue_run(second)
    run_jobs()

    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 2}
    assert statuses(second) == {"sent": 1}
    db.session.expire_all()
    assert db.session.get(Run, second).finished_at is not None
    # The first run's email to her stays in the log, without the client.
    logged = db.session.scalars(db.select(Attempt).where(Attempt.recipient == "ann@example.com"))
    assert [(a.client_id, a.delivery_id, a.success) for a in logged] == [(None, None, True)]


def test_a_run_left_waiting_only_for_deleted_clients_finishes_and_its_mailing_sends_again(
    via_sink, mailing_for, run_jobs
):
    """A run waiting for a retry (or for the next day's quota) has no worker on it: when
    the clients it waited for were deleted, nothing finished it, and its mailing skipped
    every later send ("run N is its send"), Send now greyed out for good."""
    import time_machine

    from mailer.mailings.client_services import delete_client, delete_clients
    from mailer.mailings.mailing_services import add_clients as add_to_mailing
    from mailer.models import Delivery, utcnow

    mailing = mailing_for(
        "ann@example.com", "bob@example.com", frequency="daily", start_at=utcnow()
    )
    run_id = dispatch.claim_and_create_run(mailing.id, mailing.next_send_at, utcnow())
    # As a "451 try again later" leaves them.
    db.session.execute(
        db.update(Delivery).values(status="retry", next_try_at=utcnow() + timedelta(minutes=30))
    )
    ann, bob = sorted(mailing.clients, key=lambda client: client.email)
    cat = factories.make_client(mailing.owner, "cat@example.com")
    add_to_mailing(mailing=mailing, client_ids=[cat.id])
    db.session.commit()

    delete_client(client=ann)
    db.session.commit()
    assert db.session.get(Run, run_id).finished_at is None  # bob's email still waits
    delete_clients(owner=mailing.owner, ids=[bob.id])
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Run, run_id).finished_at is not None
    with time_machine.travel(utcnow() + timedelta(days=1, minutes=1), tick=False):
        assert dispatch.dispatch_due() == 1
        run_jobs()
    assert via_sink.to_counts() == {"cat@example.com": 1}


def test_client_deleted_while_their_email_is_in_flight_is_logged_and_the_rest_is_sent(
    via_sink, send_holding_client_1
):
    from mailer.mailings.client_services import delete_client

    def delete_the_client_in_flight():
        delete_client(
            client=db.session.scalar(db.select(Client).filter_by(email="client-1@example.com"))
        )
        db.session.commit()

    run_id = send_holding_client_1(delete_the_client_in_flight)

    # Her email was on its way: the server took it, and the log keeps it without her.
    assert via_sink.to_counts() == {f"client-{n}@example.com": 1 for n in range(3)}
    assert statuses(run_id) == {"sent": 2}
    db.session.expire_all()
    assert db.session.get(Run, run_id).finished_at is not None
    assert logged_links() == [
        ("client-0@example.com", True, True),
        ("client-1@example.com", False, False),
        ("client-2@example.com", True, True),
    ]


def test_mailing_deleted_while_its_run_is_in_flight_sends_nothing_more(
    via_sink, send_holding_client_1
):
    from mailer.mailings.mailing_services import delete_mailing

    def delete_the_mailing():
        delete_mailing(mailing=db.session.scalar(db.select(Mailing)))
        db.session.commit()

    send_holding_client_1(delete_the_mailing)

    assert via_sink.to_counts() == {"client-0@example.com": 1, "client-1@example.com": 1}
    assert logged_links() == []
    assert db.session.scalar(db.select(db.func.count()).select_from(Run)) == 0


def test_outbox_transport_writes_one_eml_per_client(app, mailing_for, run_jobs):
    from pathlib import Path

    mailing_for("ann@example.com", "bob@example.com")
    dispatch.dispatch_due()
    run_jobs()
    files = sorted(Path(app.config["MAIL_OUTBOX"]).glob("*.eml"))
    assert len(files) == 2
    assert statuses() == {"sent": 2}


def test_pipelining_server_gets_one_email_each_and_refusals_keep_their_reply(
    via_sink, mailing_for, run_jobs
):
    via_sink.pipelining = True
    via_sink.rcpt_replies["bad@example.com"] = ["550 5.1.1 No such user"]
    via_sink.rcpt_replies["later@example.com"] = ["451 4.3.0 Greylisted"]
    via_sink.data_replies["spam@example.com"] = ["554 5.7.1 Rejected"]
    via_sink.drop_at.add("drop@example.com")
    mailing_for(
        "ann@example.com",
        "bad@example.com",
        "later@example.com",
        "spam@example.com",
        "drop@example.com",
        "zed@example.com",
    )
    dispatch.dispatch_due()
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "zed@example.com": 1}
    assert statuses() == {"sent": 2, "failed": 2, "retry": 2}
    attempts = db.session.scalars(db.select(Attempt)).all()
    replies = {a.recipient: (a.success, a.reply_code) for a in attempts}
    assert replies == {
        "ann@example.com": (True, 250),
        "bad@example.com": (False, 550),
        "later@example.com": (False, 451),
        "spam@example.com": (False, 554),
        "drop@example.com": (False, None),
        "zed@example.com": (True, 250),
    }
    for item in via_sink.received:
        assert item.message["To"] == item.rcpt_tos[0]
    dispatch.dispatch_due()  # the retries' time has come (0 s backoff in tests)
    run_jobs()
    assert set(via_sink.to_counts().values()) == {1}
    assert set(via_sink.to_counts()) == {
        "ann@example.com",
        "later@example.com",
        "drop@example.com",
        "zed@example.com",
    }


def test_sending_leaves_the_database_connection_as_the_pool_lent_it(
    via_sink, mailing_for, sending_config, run_jobs, user
):
    sending_config(SEND_BATCH_SIZE=4)
    mailing = mailing_for()
    add_clients(user, mailing, 10)
    dispatch.dispatch_due()
    run_jobs()  # three batches, one after another; the ledger has a connection of its own
    assert statuses() == {"sent": 10}
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        assert connection.connection.driver_connection.autocommit is False
        setting = db.text("SELECT current_setting('synchronous_commit')")
        assert connection.execute(setting).scalar() == "on"


def test_a_client_the_message_fails_for_is_not_sent_and_the_others_are(
    via_sink, user, sending_config, run_jobs
):
    from tests import factories

    clients = [
        factories.make_client(user, "ann@example.com", comment="x" * 2000),
        factories.make_client(user, "bob@example.com", comment="short"),
    ]
    # It passes the save check (the sample client's comment is short), not Ann's email.
    message = factories.make_message(user, subject="Hi", body_text="{{ client.comment * 100 }}")
    factories.make_mailing(user, message=message, clients=clients)

    dispatch.dispatch_due()
    run_jobs()

    assert via_sink.to_counts() == {"bob@example.com": 1}
    assert statuses() == {"sent": 1, "failed": 1}
    [failed] = db.session.scalars(db.select(Attempt).where(Attempt.success.is_(False))).all()
    assert failed.recipient == "ann@example.com"
    assert "longer than 20000 characters" in failed.reply
    ann = db.session.scalar(db.select(Client).where(Client.email == "ann@example.com"))
    assert ann.bounced_at is None
