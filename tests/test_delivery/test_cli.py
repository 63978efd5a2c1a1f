"""The seed's commands as flask commands: mailing-start, mailing-start-now."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

from mailer.delivery import dispatch
from mailer.extensions import db
from mailer.models import Client, Mailing, Run, utcnow
from tests.test_delivery.conftest import add_clients, statuses


def test_mailing_start_dispatches_what_is_due(app, via_sink, mailing_for, run_jobs):
    mailing_for("ann@example.com")
    later = utcnow() + timedelta(days=1)
    mailing_for("bob@example.com", start_at=later, next_send_at=later)
    result = app.test_cli_runner().invoke(args=["mailing-start"])
    assert result.exit_code == 0, result.output
    assert "Dispatched 1 run(s)." in result.output
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}


def test_mailing_start_now_sends_every_active_mailing_after_confirmation(
    app, via_sink, mailing_for, run_jobs
):
    later = utcnow() + timedelta(days=1)
    mailing_for("ann@example.com", start_at=later, next_send_at=later)
    mailing_for("bob@example.com", start_at=later, next_send_at=later, is_active=False)
    result = app.test_cli_runner().invoke(args=["mailing-start-now"], input="y\n")
    assert result.exit_code == 0, result.output
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}
    if not app.config["REDIS_URL"]:
        assert "1 sent, 0 failed" in result.output


def test_mailing_start_now_warns_that_a_once_mailing_still_goes_out_at_its_start(
    app, via_sink, mailing_for, run_jobs
):
    later = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    mailing = mailing_for("ann@example.com", start_at=later, next_send_at=later)

    result = app.test_cli_runner().invoke(args=["mailing-start-now"], input="y\n")

    assert result.exit_code == 0, result.output
    assert "(1 of them go out again at their start, unless you edit them)?" in result.output
    assert (
        f"Mailing {mailing.id}: it goes out again at its start, {later:%Y-%m-%d %H:%M} UTC,"
        " unless you edit or disable it."
    ) in result.output
    if not app.config["REDIS_URL"]:  # sent here: the progress bar's line names what it does
        assert f"Mailing {mailing.id}: sending 1 email(s)" in result.output


def test_mailing_start_now_asks_and_a_no_sends_nothing(app, via_sink, mailing_for, run_jobs):
    mailing_for("ann@example.com")
    result = app.test_cli_runner().invoke(args=["mailing-start-now"], input="n\n")
    assert result.exit_code != 0
    assert "Aborted" in result.output
    run_jobs()
    assert via_sink.received == []
    assert db.session.scalars(db.select(Run)).all() == []


def test_mailing_start_now_for_one_mailing_with_yes(app, via_sink, mailing_for, run_jobs):
    later = utcnow() + timedelta(days=1)
    first = mailing_for("ann@example.com", start_at=later, next_send_at=later)
    mailing_for("bob@example.com", start_at=later, next_send_at=later)
    result = app.test_cli_runner().invoke(
        args=["mailing-start-now", "--mailing", str(first.id), "--yes"]
    )
    assert result.exit_code == 0, result.output
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}
    assert statuses() == {"sent": 1}


def test_mailing_start_now_skips_a_mailing_without_clients_and_says_so(
    app, via_sink, mailing_for, run_jobs
):
    empty = mailing_for()
    full = mailing_for("ann@example.com")
    result = app.test_cli_runner().invoke(args=["mailing-start-now", "--yes"])
    assert result.exit_code == 0, result.output
    assert f"Mailing {empty.id}: not sent (it has no clients)." in result.output
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}
    runs = db.session.scalars(db.select(Run)).all()
    assert [run.mailing_id for run in runs] == [full.id]  # no empty run for the other


def test_mailing_start_now_skips_a_mailing_whose_clients_all_left_and_says_so(
    app, via_sink, mailing_for, run_jobs
):
    """As Send now refuses it: a run would send nobody, and a mailing not sent yet would
    count as started."""
    later = utcnow() + timedelta(days=2)
    gone = mailing_for("ann@example.com", start_at=later, next_send_at=later)
    db.session.execute(db.update(Client).values(unsubscribed_at=utcnow()))
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["mailing-start-now", "--yes"])

    assert result.exit_code == 1, result.output  # a script sees that nothing was sent
    assert (
        f"Mailing {gone.id}: not sent (all its clients unsubscribed or bounced)." in result.output
    )
    assert result.output.endswith("Error: Nothing was sent.\n")
    assert db.session.scalars(db.select(Run)).all() == []
    db.session.expire_all()
    assert db.session.get(Mailing, gone.id).status == "created"


def test_ctrl_c_during_an_in_process_send_stops_after_the_email_in_flight(
    app, user, via_sink, mailing_for, monkeypatch
):
    """Interrupted anywhere, the send left its email in flight "sending": the run stayed
    unfinished for SEND_STALL_SECONDS, Send now greyed out, then that email "unknown"."""
    from mailer.delivery import sender

    monkeypatch.setitem(app.config, "REDIS_URL", None)  # no worker: it sends in-process
    mailing = mailing_for()
    add_clients(user, mailing, 30)
    # The first email, whichever it is, is held until released (in the first chunk of ten).
    via_sink.stall_at.update(f"client-{n}@example.com" for n in range(30))

    def ctrl_c_while_the_first_email_is_on_its_way():
        assert via_sink.stalled.wait(30)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the signal reaches the send before the reply does
        via_sink.released.set()

    pressing = threading.Thread(target=ctrl_c_while_the_first_email_is_on_its_way)
    pressing.start()
    result = app.test_cli_runner().invoke(
        args=["mailing-start-now", "--mailing", str(mailing.id), "--yes"]
    )
    pressing.join(30)

    assert result.exit_code == 1, result.output
    assert "Stopping after the email in flight" in result.output
    assert "stopped; 10 sent, and the other 20 wait in run" in result.output
    assert statuses() == {"sent": 10, "pending": 20}  # none left "sending"
    assert len(via_sink.received) == 10
    assert not sender.HAND_BACK.is_set()  # the next send in this process goes on


def test_mailing_start_now_skips_a_mailing_still_sending_and_says_so(
    app, via_sink, mailing_for, run_jobs
):
    busy = mailing_for("ann@example.com")
    mailing_for("bob@example.com")
    unfinished = dispatch.start_forced_run(busy.id)  # its batches not sent yet
    result = app.test_cli_runner().invoke(args=["mailing-start-now", "--yes"])
    assert result.exit_code == 0, result.output
    assert f"Mailing {busy.id}: not sent (its run {unfinished} has not finished)." in result.output
    run_jobs()
    assert via_sink.to_counts() == {"bob@example.com": 1}
    assert len(db.session.scalars(db.select(Run).filter_by(mailing_id=busy.id)).all()) == 1


def test_mailing_start_now_says_why_one_mailing_cannot_be_sent(app, mailing_for, user, manager):
    from mailer.auth.staff import block_user

    disabled = mailing_for("ann@example.com", is_active=False)
    blocked_owners = mailing_for("bob@example.com")
    block_user(user=user, by=manager)
    db.session.commit()
    for mailing_id, reason in (
        (999_999, "Mailing 999999 does not exist."),
        (disabled.id, f"Mailing {disabled.id} is disabled: enable it first."),
        (blocked_owners.id, f"Mailing {blocked_owners.id}'s owner is blocked: it sends nothing."),
    ):
        result = app.test_cli_runner().invoke(
            args=["mailing-start-now", "--mailing", str(mailing_id), "--yes"]
        )
        assert result.exit_code == 1
        assert reason in result.output


def test_mailing_start_now_asks_about_only_what_it_sends_and_warns_of_completed_ones(
    app, via_sink, mailing_for, other_user, manager, run_jobs
):
    from mailer.auth.staff import block_user
    from tests import factories

    mailing_for("ann@example.com", status="completed", next_send_at=None)
    mailing_for("bob@example.com")
    theirs = factories.make_client(other_user, "cat@example.com")
    factories.make_mailing(other_user, clients=[theirs])
    block_user(user=other_user, by=manager)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["mailing-start-now"], input="y\n")

    assert (
        "Send 2 mailing(s) to all their clients now"
        " (1 of them completed: their clients got them already)?"
    ) in result.output
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


def test_mailing_start_now_with_redis_away_says_the_runs_are_saved_and_fails(
    app_with_no_redis, mailing_for
):
    """The runs are committed before their batches are queued: the command says they wait
    for Redis (the scheduler queues them once it is back) and exits non-zero."""
    first = mailing_for("ann@example.com")
    second = mailing_for("bob@example.com")

    with app_with_no_redis.app_context():  # the command runs in the app context it finds
        result = app_with_no_redis.test_cli_runner().invoke(args=["mailing-start-now", "--yes"])

    assert result.exit_code == 1
    runs = dict(db.session.execute(db.select(Run.mailing_id, Run.id)).all())
    for mailing in (first, second):
        assert (
            f"Mailing {mailing.id}: run {runs[mailing.id]} saved but not queued:"
            " cannot reach Redis (Error 111 connecting to 127.0.0.1:"
        ) in result.output
    assert "2 run(s) not queued; the scheduler queues them within a few minutes" in result.output
    assert "Traceback" not in result.output
