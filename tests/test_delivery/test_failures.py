"""SMTP failures: each ends in its documented outcome, with an attempt row per try."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from rq import Queue

from mailer.delivery import dispatch, jobs, sender
from mailer.extensions import db
from mailer.models import Client, Delivery, Run, utcnow
from tests.test_delivery.conftest import add_clients, attempts_for, free_port, statuses
from tests.waiting import wait_for


def _tick(run_jobs) -> None:
    """What the scheduler does every minute: dispatch, which requeues due retries."""
    dispatch.dispatch_due()
    run_jobs()


def _tries(email_address: str) -> list[tuple[bool, int | None]]:
    return [(a.success, a.reply_code) for a in attempts_for(email_address)]


def test_an_unreachable_server_never_fails_the_client_however_long_it_lasts(
    send_via, smtp_sink, mailing_for, sending_config, run_jobs
):
    """The outage is mailer's, not the client's: past SEND_MAX_ATTEMPTS the email that
    found it so is tried again, no further apart than a client's last try, and goes out
    once the server is back (it failed for good before, one client per outage's stretch)."""
    sending_config(SEND_MAX_ATTEMPTS=3, SEND_RETRY_BASE_SECONDS=60)
    send_via(free_port())  # nothing listens there
    mailing_for("ann@example.com")
    for _ in range(5):
        db.session.execute(db.update(Delivery).values(next_try_at=utcnow()))  # its time came
        db.session.commit()
        _tick(run_jobs)

    assert statuses() == {"retry": 1}
    assert _tries("ann@example.com") == [(False, None)] * 5
    assert attempts_for("ann@example.com")[0].reply == "connection refused"
    wait = db.session.scalar(db.select(Delivery.next_try_at)) - utcnow()
    assert timedelta(minutes=3) < wait <= timedelta(minutes=5)  # 60 s * 2^(3-1), + jitter < 60 s
    send_via(smtp_sink.port)
    db.session.execute(db.update(Delivery).values(next_try_at=utcnow()))
    db.session.commit()
    _tick(run_jobs)
    assert statuses() == {"sent": 1}
    assert smtp_sink.to_counts() == {"ann@example.com": 1}


def test_a_temporary_failure_of_the_client_fails_after_max_attempts(
    via_sink, mailing_for, sending_config, run_jobs
):
    sending_config(SEND_MAX_ATTEMPTS=3)
    via_sink.rcpt_replies["ann@example.com"] = ["451 4.2.0 Mailbox busy"] * 4
    mailing_for("ann@example.com")
    _tick(run_jobs)
    assert statuses() == {"retry": 1}
    _tick(run_jobs)
    _tick(run_jobs)
    assert statuses() == {"failed": 1}
    assert _tries("ann@example.com") == [(False, 451)] * 3
    _tick(run_jobs)
    assert len(attempts_for("ann@example.com")) == 3  # a failed delivery is not tried again


def test_a_relay_that_will_not_relay_for_mailer_bounces_nobody(
    via_sink, mailing_for, sending_config, run_jobs
):
    """554 5.7.1 "Relay access denied" to every recipient (no MAIL_USERNAME, or an address
    the relay does not serve): a policy of the server's, not a bad address. Retried as a
    temporary failure; every client was marked bounced for good before."""
    sending_config(SEND_MAX_ATTEMPTS=2, HARD_BOUNCE_LIMIT=1)
    for address in ("ann@example.com", "bob@example.com"):
        via_sink.rcpt_replies[address] = [f"554 5.7.1 <{address}>: Relay access denied"]
    mailing_for("ann@example.com", "bob@example.com")
    _tick(run_jobs)

    assert statuses() == {"retry": 2}
    assert "Relay access denied" in attempts_for("bob@example.com")[0].reply
    _tick(run_jobs)  # the relay lets mailer send now
    assert statuses() == {"sent": 2}
    assert db.session.scalars(db.select(Client.hard_bounces)).all() == [0, 0]


def test_a_message_refused_for_the_servers_policy_fails_without_a_bounce(
    via_sink, mailing_for, sending_config, run_jobs
):
    """554 5.7.1 after DATA: the server judged the message (spam, DMARC), not the address.
    With every client of a run refused so, counting bounces would lose the whole list."""
    sending_config(HARD_BOUNCE_LIMIT=1)
    via_sink.data_replies["ann@example.com"] = ["554 5.7.1 Message rejected as spam"]
    via_sink.data_replies["bob@example.com"] = ["550 5.1.1 No such user"]
    mailing_for("ann@example.com", "bob@example.com")
    _tick(run_jobs)

    assert statuses() == {"failed": 2}
    assert _tries("ann@example.com") == [(False, 554)]
    ann, bob = (
        db.session.scalar(db.select(Client).where(Client.email == address))
        for address in ("ann@example.com", "bob@example.com")
    )
    assert (ann.hard_bounces, ann.bounced_at) == (0, None)
    assert (bob.hard_bounces, bob.bounced_at is not None) == (1, True)


def test_refused_then_server_back_delivers_on_retry(send_via, smtp_sink, mailing_for, run_jobs):
    send_via(free_port())
    mailing_for("ann@example.com")
    _tick(run_jobs)
    send_via(smtp_sink.port)
    _tick(run_jobs)
    assert smtp_sink.to_counts() == {"ann@example.com": 1}
    assert _tries("ann@example.com") == [(False, None), (True, 250)]


def test_an_unreachable_server_costs_one_try_not_one_per_client(
    send_via, smtp_sink, mailing_for, run_jobs
):
    """During an outage the rest of the batch waits for the first email's retry, untried:
    no attempt, try or rate-limit send each, and no run failed after a long outage."""
    send_via(free_port())
    mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    _tick(run_jobs)
    assert statuses() == {"retry": 3}
    assert _tries("ann@example.com") == [(False, None)]
    assert attempts_for("bob@example.com") == attempts_for("cat@example.com") == []
    waits = db.session.execute(db.select(Delivery.tries, Delivery.next_try_at)).all()
    assert sorted(tries for tries, _ in waits) == [0, 0, 1]
    assert len({next_try_at for _, next_try_at in waits}) == 1  # all with the first's retry

    send_via(smtp_sink.port)
    _tick(run_jobs)
    assert smtp_sink.to_counts() == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
    }
    assert _tries("bob@example.com") == [(True, 250)]


def test_421_is_retried_and_delivered_next_time(via_sink, mailing_for, run_jobs):
    via_sink.rcpt_replies["bob@example.com"] = ["421 4.7.0 Try again later, closing"]
    mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    _tick(run_jobs)
    assert via_sink.to_counts() == {"ann@example.com": 1, "cat@example.com": 1}
    assert statuses() == {"sent": 2, "retry": 1}
    _tick(run_jobs)
    assert via_sink.to_counts() == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
    }
    assert _tries("bob@example.com") == [(False, 421), (True, 250)]
    assert "Try again later" in attempts_for("bob@example.com")[0].reply


def test_a_run_waiting_for_its_first_clients_retry_is_not_finished(via_sink, mailing_for, run_jobs):
    """The run's later emails are all sent; it finishes only once the first one is."""
    via_sink.rcpt_replies["ann@example.com"] = ["451 4.3.0 Greylisted"]
    mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    _tick(run_jobs)
    assert statuses() == {"retry": 1, "sent": 2}
    assert db.session.scalars(db.select(Run.finished_at)).one() is None
    _tick(run_jobs)
    assert statuses() == {"sent": 3}
    assert db.session.scalars(db.select(Run.finished_at)).one() is not None


def test_451_is_retried_with_backoff_until_delivered(via_sink, mailing_for, run_jobs):
    via_sink.rcpt_replies["ann@example.com"] = ["451 4.3.0 Greylisted"] * 2
    mailing_for("ann@example.com")
    for _ in range(3):
        _tick(run_jobs)
    assert via_sink.to_counts() == {"ann@example.com": 1}
    assert _tries("ann@example.com") == [(False, 451), (False, 451), (True, 250)]
    assert db.session.scalar(db.select(Delivery.tries)) == 3


def test_retry_waits_for_its_backoff(via_sink, mailing_for, sending_config, run_jobs):
    sending_config(SEND_RETRY_BASE_SECONDS=3600)
    via_sink.rcpt_replies["ann@example.com"] = ["451 4.3.0 Later"]
    mailing_for("ann@example.com")
    _tick(run_jobs)
    _tick(run_jobs)  # an hour has not passed: nothing is tried
    assert _tries("ann@example.com") == [(False, 451)]
    delivery = db.session.scalars(db.select(Delivery)).one()
    assert delivery.status == "retry"
    waited = (
        delivery.next_try_at - attempts_for("ann@example.com")[0].attempted_at
    ).total_seconds()
    assert 3600 <= waited <= 7200  # base plus up to one base of jitter


def test_550_fails_at_once_and_bounces_the_client(via_sink, mailing_for, user, run_jobs):
    via_sink.rcpt_replies["bad@example.com"] = ["550 5.1.1 No such user"]
    mailing = mailing_for("ann@example.com", "bad@example.com")
    _tick(run_jobs)
    assert via_sink.to_counts() == {"ann@example.com": 1}
    assert _tries("bad@example.com") == [(False, 550)]
    assert "No such user" in attempts_for("bad@example.com")[0].reply
    bad = db.session.scalar(db.select(Client).where(Client.email == "bad@example.com"))
    assert bad.bounced_at is not None
    assert bad.hard_bounces == 1
    # The next run leaves the bounced client out.
    dispatch.start_forced_run(mailing.id)
    assert statuses() == {"sent": 1, "failed": 1, "pending": 1}


def test_a_bounce_counts_against_the_address_it_came_from(via_sink, send_holding_client_1):
    # The owner corrects client-1's address while the server is refusing the old one.
    via_sink.data_replies["client-1@example.com"] = ["550 5.1.1 No such user"]

    def correct_the_address():
        db.session.execute(
            db.update(Client)
            .where(Client.email == "client-1@example.com")
            .values(email="client-1@example.org")
        )
        db.session.commit()

    send_holding_client_1(correct_the_address)
    assert _tries("client-1@example.com") == [(False, 550)]
    corrected = db.session.scalar(db.select(Client).where(Client.email == "client-1@example.org"))
    db.session.refresh(corrected)
    assert (corrected.hard_bounces, corrected.bounced_at) == (0, None)


def test_bounce_limit_counts_hard_bounces_before_marking(
    via_sink, mailing_for, sending_config, run_jobs
):
    sending_config(HARD_BOUNCE_LIMIT=2)
    via_sink.data_replies["bad@example.com"] = ["550 5.1.1 No such user"] * 2
    mailing = mailing_for("bad@example.com")
    _tick(run_jobs)
    bad = db.session.scalar(db.select(Client).where(Client.email == "bad@example.com"))
    assert (bad.hard_bounces, bad.bounced_at) == (1, None)
    run_id = dispatch.start_forced_run(mailing.id)
    dispatch.enqueue_run(run_id)
    run_jobs()
    db.session.expire_all()
    bad = db.session.get(Client, bad.id)
    assert bad.hard_bounces == 2
    assert bad.bounced_at is not None
    assert via_sink.received == []


def test_connection_dropped_mid_batch_reconnects_and_retries_only_the_dropped_one(
    via_sink, mailing_for, run_jobs
):
    via_sink.drop_at.add("bob@example.com")
    mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    _tick(run_jobs)
    assert via_sink.to_counts() == {"ann@example.com": 1, "cat@example.com": 1}
    assert _tries("bob@example.com") == [(False, None)]
    assert "dropped" in attempts_for("bob@example.com")[0].reply
    assert via_sink.connections == 2
    _tick(run_jobs)
    assert via_sink.to_counts() == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
    }
    assert statuses() == {"sent": 3}


@contextmanager
def _scripted_server(converse):
    """A server on a port of 127.0.0.1 that holds each connection's conversation with
    `converse(connection)`, one connection at a time; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            converse(connection)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        server.join(5)
        listener.close()


@pytest.fixture
def refusing_login():
    """An SMTP server that refuses every login (535), as one does to a wrong MAIL_PASSWORD."""

    def converse(connection: socket.socket) -> None:
        with connection, connection.makefile("rwb") as stream:
            stream.write(b"220 mail.example ESMTP\r\n")
            stream.flush()
            for line in stream:
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb in (b"EHLO", b"HELO"):
                    stream.write(b"250-mail.example\r\n250 AUTH PLAIN LOGIN\r\n")
                elif verb == b"AUTH":
                    stream.write(b"535 5.7.8 Authentication credentials invalid\r\n")
                elif verb == b"QUIT":
                    stream.write(b"221 bye\r\n")
                    stream.flush()
                    return
                else:
                    stream.write(b"503 5.5.1 Authenticate first\r\n")
                stream.flush()

    with _scripted_server(converse) as port:
        yield port


@pytest.fixture
def greeting_server():
    """`greeting_server(ehlo_reply)`: an SMTP server answering EHLO with `ehlo_reply` (and
    closing the connection after a 421), HELO with 250, and taking the mail of a client
    that greeted it so (refusing MAIL before); the port, and the recipients it took."""
    took: list[str] = []
    said = {}

    def converse(connection: socket.socket) -> None:
        greeted = False
        with connection, connection.makefile("rwb") as stream:
            stream.write(b"220 mail.example ESMTP\r\n")
            stream.flush()
            for line in stream:
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb == b"EHLO":
                    stream.write(said["ehlo"] + b"\r\n")
                    if said["ehlo"].startswith(b"421"):
                        stream.flush()
                        return
                elif verb == b"HELO":
                    greeted = True
                    stream.write(b"250 mail.example\r\n")
                elif verb == b"MAIL" and not greeted:
                    stream.write(b"503 5.5.1 Say HELO first\r\n")
                elif verb == b"DATA":
                    stream.write(b"354 go on\r\n")
                    stream.flush()
                    for data_line in stream:
                        if data_line == b".\r\n":
                            break
                    stream.write(b"250 2.0.0 Ok: queued\r\n")
                elif verb == b"RCPT":
                    took.append(line.split(b"<", 1)[1].split(b">", 1)[0].decode())
                    stream.write(b"250 2.1.5 Ok\r\n")
                elif verb == b"QUIT":
                    stream.write(b"221 bye\r\n")
                    stream.flush()
                    return
                else:  # MAIL, RSET, NOOP
                    stream.write(b"250 Ok\r\n")
                stream.flush()

    with _scripted_server(converse) as port:

        def start(ehlo_reply: bytes) -> tuple[int, list[str]]:
            said["ehlo"] = ehlo_reply
            return port, took

        yield start


def test_a_server_that_refuses_the_greeting_fails_no_client_and_costs_one_try(
    send_via, greeting_server, smtp_sink, mailing_for, run_jobs
):
    """A 421 to EHLO closed the connection unseen: every client of the batch spent a try on
    "connection dropped during mail", and SEND_MAX_ATTEMPTS later the whole run failed."""
    port, _ = greeting_server(b"421 4.7.0 Too many connections, try later")
    send_via(port)
    mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    _tick(run_jobs)

    assert statuses() == {"retry": 3}
    assert _tries("ann@example.com") == [(False, 421)]
    assert "Too many connections" in attempts_for("ann@example.com")[0].reply
    assert attempts_for("bob@example.com") == []  # waits, untried, for ann's retry
    send_via(smtp_sink.port)
    _tick(run_jobs)
    assert statuses() == {"sent": 3}


def test_a_server_that_knows_no_ehlo_is_greeted_with_helo(
    send_via, greeting_server, mailing_for, run_jobs
):
    port, took = greeting_server(b"502 5.5.2 Command not recognised")
    send_via(port)
    mailing_for("ann@example.com")
    _tick(run_jobs)
    assert statuses() == {"sent": 1}
    assert took == ["ann@example.com"]


def test_a_refused_login_fails_no_client_and_delivers_once_the_password_is_right(
    send_via, refusing_login, smtp_sink, mailing_for, run_jobs
):
    """A 5xx on connecting or logging in refuses mailer, not the client: the email waits
    for its retry as when the server is unreachable, instead of failing for good, one
    client a tick, while the operator corrects MAIL_PASSWORD."""
    send_via(refusing_login, MAIL_USERNAME="news@mailer.example", MAIL_PASSWORD="wrong")
    mailing_for("ann@example.com", "bob@example.com")
    _tick(run_jobs)
    assert statuses() == {"retry": 2}
    assert _tries("ann@example.com") == [(False, 535)]
    assert "Authentication credentials invalid" in attempts_for("ann@example.com")[0].reply

    send_via(smtp_sink.port)
    _tick(run_jobs)
    assert statuses() == {"sent": 2}
    assert smtp_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


def test_a_sender_address_the_server_refuses_fails_no_client_and_the_rest_waits(
    via_sink, mailing_for, run_jobs
):
    """A 5xx at MAIL FROM refuses mailer's sender, not the client (Yandex's "553 Sender
    address rejected: not owned by auth user" to a wrong MAIL_DEFAULT_SENDER): retried
    like a refused login, the rest of the batch untried, nobody marked bounced."""
    via_sink.mail_replies = ["553 5.7.1 Sender address rejected: not owned by auth user"]
    mailing_for("ann@example.com", "bob@example.com")
    _tick(run_jobs)
    assert statuses() == {"retry": 2}
    assert _tries("ann@example.com") == [(False, 553)]
    assert _tries("bob@example.com") == []  # waited untried
    assert (
        db.session.scalar(db.select(Client.bounced_at).filter_by(email="ann@example.com")) is None
    )

    _tick(run_jobs)  # the sender is fixed: the server takes it now
    assert statuses() == {"sent": 2}
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


def test_a_run_whose_job_was_lost_is_sent_after_the_stall_time_and_the_log_says_so(
    via_sink, mailing_for, sending_config, run_jobs, caplog
):
    """Redis went away between the run's commit and its enqueue ("Send now" in an outage):
    the deliveries wait untouched, and a tick after SEND_STALL_SECONDS sends them."""
    mailing = mailing_for("ann@example.com", "bob@example.com")
    run_id = dispatch.start_forced_run(mailing.id)  # committed; never enqueued
    sending_config(SEND_STALL_SECONDS=0)
    caplog.set_level("INFO", logger="mailer.delivery.dispatch")
    _tick(run_jobs)
    assert statuses(run_id) == {"sent": 2}
    assert f"run {run_id}: 2 put back on the queue (retry due, or job lost)" in caplog.text


def test_with_redis_a_run_with_no_job_queued_or_running_is_put_back_a_minute_later(
    redis_conn, via_sink, mailing_for, run_jobs
):
    """Redis lost the run's jobs (restarted, or away at "Send now"): the queue and the
    workers say no batch of it is in hand, so a minute is enough, not SEND_STALL_SECONDS."""
    mailing = mailing_for("ann@example.com", "bob@example.com")
    dispatch.start_forced_run(mailing.id)  # committed; never enqueued
    assert dispatch.requeue_waiting() == 0  # just saved: its enqueue may be on its way
    later = utcnow() + dispatch.JOBS_LOST_AFTER + timedelta(seconds=1)
    assert dispatch.requeue_waiting(later) == 2  # ten minutes (SEND_STALL_SECONDS) are far off
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


def test_with_redis_the_rest_of_a_batch_a_worker_is_sending_is_not_taken_for_lost(
    app, redis_conn, via_sink, mailing_for, user, run_jobs
):
    """While a worker sends a batch, the deliveries it has not claimed yet are untouched and
    no job of their run is queued: RQ's started jobs say the run is in hand."""
    mailing = mailing_for()
    add_clients(user, mailing, sender.FIRST_CHUNK + 2)  # two wait past the first chunk
    via_sink.stall_at.add("client-1@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    dispatch.enqueue_run(run_id)
    requeued: list[int] = []

    def tick_while_the_sink_holds_one() -> None:
        try:
            if via_sink.stalled.wait(30):
                with app.app_context():
                    later = utcnow() + dispatch.JOBS_LOST_AFTER + timedelta(seconds=1)
                    requeued.append(dispatch.requeue_waiting(later))
        finally:
            via_sink.released.set()

    ticker = threading.Thread(target=tick_while_the_sink_holds_one)
    ticker.start()
    run_jobs()  # the worker, here; the tick, meanwhile in the thread
    ticker.join(30)
    assert requeued == [0]
    assert set(via_sink.to_counts().values()) == {1}
    assert statuses(run_id) == {"sent": sender.FIRST_CHUNK + 2}


def test_batches_waiting_in_the_queue_are_not_taken_for_lost(
    app, redis_conn, via_sink, mailing_for, sending_config, run_jobs, caplog
):
    """A large run under a tight rate limit waits in the queue for hours: its deliveries,
    untouched all that time, are waiting their turn, not lost."""
    sending_config(SEND_BATCH_SIZE=1, SEND_STALL_SECONDS=0)
    mailing_for("ann@example.com", "bob@example.com")
    dispatch.dispatch_due()
    queue = Queue(app.config["RQ_QUEUE"], connection=redis_conn)
    assert queue.count == 2
    caplog.set_level("INFO", logger="mailer.delivery.dispatch")
    dispatch.dispatch_due()  # the next tick, while they wait
    assert queue.count == 2
    assert "put back on the queue" not in caplog.text
    queue.empty()  # Redis lost them
    dispatch.dispatch_due()
    assert "2 put back on the queue (retry due, or job lost)" in caplog.text
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


def test_batches_waiting_in_process_are_not_taken_for_lost(
    app, via_sink, mailing_for, sending_config, caplog
):
    """The same without Redis: the embedded default's jobs wait on its one thread."""
    if app.config["REDIS_URL"]:
        pytest.skip("the in-process queue is what runs without Redis")
    # Jobs go to the background thread.
    sending_config(TESTING=False, JOBS_SYNCHRONOUS=False, SEND_BATCH_SIZE=1, SEND_STALL_SECONDS=0)
    mailing = mailing_for("ann@example.com", "bob@example.com")
    busy = threading.Event()
    jobs.enqueue(busy.wait, 30)  # the thread is busy: what comes next waits
    try:
        dispatch.dispatch_due()
        [run_id] = db.session.scalars(db.select(Run.id).where(Run.mailing_id == mailing.id))
        assert jobs.runs_queued() == {run_id}
        caplog.set_level("INFO", logger="mailer.delivery.dispatch")
        dispatch.dispatch_due()
        assert "put back on the queue" not in caplog.text
    finally:
        busy.set()
    done = threading.Event()
    jobs.enqueue(done.set)  # one thread: once this has run, so have the batches
    assert done.wait(30)
    assert jobs.runs_queued() == set()
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


def test_a_long_batch_keeps_its_waiting_deliveries_from_being_taken_for_lost(
    app, via_sink, mailing_for, sending_config, user, caplog
):
    """A batch lasting longer than SEND_STALL_SECONDS (a tight rate limit) is alive: the
    ticks meanwhile leave the rest of it alone."""
    # 28 emails at 4 a second: 7 s. The batch shows it is alive every 1.5 s.
    sending_config(SEND_RATE_PER_SECOND=4, SEND_STALL_SECONDS=4.5)
    mailing = mailing_for()
    add_clients(user, mailing, 28)
    run_id = dispatch.start_forced_run(mailing.id)
    [batch] = dispatch.run_batches(run_id)
    sending = threading.Thread(
        target=_in_app_context, args=(app, jobs.send_batch_job, run_id, batch)
    )
    sending.start()
    try:
        # 6 s since the run was created, past the stall time; the last two still waiting.
        assert wait_for(lambda: len(via_sink.received) >= 26)
        caplog.set_level("INFO", logger="mailer.delivery.dispatch")
        assert dispatch.requeue_waiting() == 0
    finally:
        sending.join(30)
    assert set(via_sink.to_counts().values()) == {1}
    assert statuses(run_id) == {"sent": 28}
    assert "put back on the queue" not in caplog.text


def _in_app_context(app, func, *args) -> None:
    with app.app_context():
        func(*args)
