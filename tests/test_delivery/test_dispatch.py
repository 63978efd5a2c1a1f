"""Dispatch: claims each due slot once, whatever runs at the same time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
import time_machine

from mailer.delivery import dispatch
from mailer.extensions import db
from mailer.mailings.client_services import ClientData, create_client
from mailer.models import Mailing, Run, utcnow
from tests import factories
from tests.test_delivery.conftest import add_clients, statuses


def _runs(mailing_id: int) -> list[Run]:
    db.session.expire_all()
    return db.session.scalars(
        db.select(Run).where(Run.mailing_id == mailing_id).order_by(Run.scheduled_for)
    ).all()


def test_second_dispatch_in_same_minute_sends_nothing(via_sink, mailing_for, run_jobs):
    mailing = mailing_for("ann@example.com", "bob@example.com")
    assert dispatch.dispatch_due() == 1
    assert dispatch.dispatch_due() == 0
    run_jobs()
    assert dispatch.dispatch_due() == 0
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}
    assert len(_runs(mailing.id)) == 1


def test_once_mailing_is_completed_after_its_run(via_sink, mailing_for, run_jobs):
    mailing = mailing_for("ann@example.com")
    dispatch.dispatch_due()
    db.session.expire_all()
    mailing = db.session.get(Mailing, mailing.id)
    assert (mailing.status, mailing.next_send_at) == ("completed", None)


def test_daily_mailing_moves_to_its_next_slot(via_sink, mailing_for, run_jobs):
    start = utcnow() - timedelta(seconds=5)
    mailing = mailing_for("ann@example.com", frequency="daily", start_at=start)
    dispatch.dispatch_due()
    db.session.expire_all()
    mailing = db.session.get(Mailing, mailing.id)
    assert mailing.status == "started"
    assert mailing.next_send_at == start + timedelta(days=1)


def test_after_downtime_one_catch_up_run_not_a_burst(via_sink, mailing_for, run_jobs):
    start = utcnow() - timedelta(days=3, minutes=1)
    mailing = mailing_for("ann@example.com", frequency="daily", start_at=start, next_send_at=start)
    assert dispatch.dispatch_due() == 1
    assert dispatch.dispatch_due() == 0
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).next_send_at > utcnow()


def test_disabled_mailing_and_blocked_owner_are_not_dispatched(
    via_sink, mailing_for, user, run_jobs
):
    mailing_for("ann@example.com", is_active=False)
    other = factories.make_user("blocked@example.com", is_blocked=True)
    client = factories.make_client(other, "bob@example.com")
    factories.make_mailing(other, clients=[client])
    assert dispatch.dispatch_due() == 0
    run_jobs()
    assert via_sink.received == []


def test_mailing_whose_end_passed_during_downtime_sends_nothing(via_sink, mailing_for, run_jobs):
    start = utcnow() - timedelta(days=2)
    mailing = mailing_for("ann@example.com", start_at=start, end_at=start + timedelta(hours=1))
    assert dispatch.dispatch_due() == 0
    run_jobs()
    assert via_sink.received == []
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).status == "completed"


def test_a_last_send_at_the_very_end_goes_out_when_dispatch_takes_it_a_little_later(
    via_sink, mailing_for, run_jobs, caplog
):
    """ "Daily at 9, until the 10th at 9": dispatch runs seconds to a minute after the slot,
    always past the end; the last send was skipped every time, and nothing said so."""
    end = utcnow() - timedelta(seconds=40)
    mailing = mailing_for(
        "ann@example.com",
        frequency="daily",
        start_at=end - timedelta(days=1),
        end_at=end,
        next_send_at=end,
    )
    late = mailing_for(
        "bob@example.com",
        frequency="daily",
        start_at=end - timedelta(days=1, minutes=20),
        end_at=end - timedelta(minutes=20),
        next_send_at=end - timedelta(minutes=20),
    )

    assert dispatch.dispatch_due() == 1
    run_jobs()

    assert via_sink.to_counts() == {"ann@example.com": 1}
    assert [run.scheduled_for for run in _runs(mailing.id)] == [end]
    assert f"mailing {late.id}: the send due at" in caplog.text
    assert "came after the mailing's end" in caplog.text
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).status == "completed"


def test_a_slot_set_again_after_its_run_is_skipped_not_a_jam(via_sink, mailing_for, run_jobs):
    """An edit or Enable in the minute after a start that sent set the start again: the
    run's unique key refused a second run, the claim was rolled back with it, and the
    mailing sent no more, its next send stuck at that start."""
    start = utcnow() - timedelta(seconds=20)
    mailing = mailing_for("ann@example.com", frequency="daily", start_at=start, next_send_at=start)
    assert dispatch.dispatch_due() == 1
    run_jobs()
    db.session.execute(db.update(Mailing).filter_by(id=mailing.id).values(next_send_at=start))
    db.session.commit()

    assert dispatch.dispatch_due() == 0
    run_jobs()

    assert via_sink.to_counts() == {"ann@example.com": 1}
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).next_send_at == start + timedelta(days=1)


def test_forced_run_sends_now_and_keeps_the_schedule(via_sink, mailing_for, run_jobs):
    later = utcnow() + timedelta(days=1)
    mailing = mailing_for("ann@example.com", start_at=later, next_send_at=later)
    run_id = dispatch.start_forced_run(mailing.id)
    dispatch.enqueue_run(run_id)
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}
    db.session.expire_all()
    mailing = db.session.get(Mailing, mailing.id)
    assert mailing.next_send_at == later
    assert _runs(mailing.id)[0].forced is True


def test_a_slot_due_while_a_send_now_is_still_sending_is_that_sends(
    via_sink, mailing_for, run_jobs
):
    """ "Send now" seconds before the daily send: each client gets one email, not two."""
    start = utcnow() - timedelta(seconds=5)
    mailing = mailing_for("ann@example.com", "bob@example.com", frequency="daily", start_at=start)
    forced = dispatch.start_forced_run(mailing.id)  # not sent yet when the slot comes

    assert dispatch.dispatch_due() == 0
    dispatch.enqueue_run(forced)
    run_jobs()

    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}
    assert [run.id for run in _runs(mailing.id)] == [forced]
    assert db.session.get(Mailing, mailing.id).next_send_at == start + timedelta(days=1)
    assert dispatch.dispatch_due() == 0  # the slot moved on: it is not tried again


@pytest.mark.parametrize(
    ("sent_now_before", "runs"),
    [(timedelta(seconds=5), 1), (dispatch.SEND_NOW_COVERS + timedelta(minutes=1), 2)],
    ids=["moments before: it is the slot's send", "long before: the slot sends too"],
)
def test_a_slot_after_a_finished_send_now(via_sink, mailing_for, run_jobs, sent_now_before, runs):
    """With one busy worker the dispatch may run only once the "Send now" has finished."""
    start = utcnow() - timedelta(seconds=1)
    mailing = mailing_for("ann@example.com", frequency="daily", start_at=start)
    with time_machine.travel(start - sent_now_before, tick=False):
        dispatch.enqueue_run(dispatch.start_forced_run(mailing.id))
        run_jobs()

    dispatch.dispatch_due()
    run_jobs()

    assert len(_runs(mailing.id)) == runs
    assert via_sink.to_counts() == {"ann@example.com": runs}


def test_run_deliveries_are_created_for_every_client_of_the_mailing(mailing_for, user):
    mailing = mailing_for()
    add_clients(user, mailing, 250)
    stranger = factories.make_user("stranger@example.com")
    factories.make_client(stranger, "not-in-mailing@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    assert statuses(run_id) == {"pending": 250}
    assert [len(batch) for batch in dispatch.run_batches(run_id)] == [200, 50]


def test_two_dispatchers_in_threads_create_one_run(app, via_sink, mailing_for, run_jobs):
    mailing = mailing_for("ann@example.com", "bob@example.com", frequency="daily")
    barrier = threading.Barrier(2)
    created = []

    def dispatcher():
        with app.app_context():
            barrier.wait()
            created.append(dispatch.dispatch_due())
            db.session.remove()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_jobs()
    assert sorted(created) == [0, 1]
    assert len(_runs(mailing.id)) == 1
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


REFUSED = "refused: a run is unfinished"


def _race(app, monkeypatch, first, paused_after: str, second) -> list:
    """Each party's answer when `second` acts while `first` is paused inside its
    transaction, just after it returns from `dispatch.<paused_after>`. `first` goes on
    half a second after `second` began: by then `second` has finished, or waits for it.
    """
    reached, going = threading.Event(), threading.Event()
    real = getattr(dispatch, paused_after)

    def pausing(*args):
        value = real(*args)
        if not reached.is_set():
            reached.set()
            going.wait(timeout=10)
            time.sleep(0.5)
        return value

    monkeypatch.setattr(dispatch, paused_after, pausing)
    answers = [None, None]

    def party(index, action):
        with app.app_context():
            if index == 1:
                reached.wait(timeout=10)
                going.set()
            try:
                answers[index] = action()
            except dispatch.RunInProgress:
                answers[index] = REFUSED
            db.session.remove()

    threads = [threading.Thread(target=party, args=pair) for pair in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_send_now_while_the_dispatch_creates_the_slots_run(
    app, monkeypatch, via_sink, mailing_for, run_jobs
):
    mailing = mailing_for("ann@example.com", "bob@example.com", frequency="daily")
    claim = partial(dispatch.claim_and_create_run, mailing.id, mailing.next_send_at, utcnow())
    send_now = partial(dispatch.start_forced_run, mailing.id)

    answers = _race(app, monkeypatch, claim, "_covering_run", send_now)
    dispatch.enqueue_run(answers[0])
    run_jobs()

    assert answers[1] == REFUSED
    assert [run.id for run in _runs(mailing.id)] == [answers[0]]
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


def test_the_slot_comes_while_send_now_creates_its_run(
    app, monkeypatch, via_sink, mailing_for, run_jobs
):
    mailing = mailing_for("ann@example.com", "bob@example.com", frequency="daily")
    send_now = partial(dispatch.start_forced_run, mailing.id)

    answers = _race(app, monkeypatch, send_now, "unfinished_run", dispatch.dispatch_due)
    assert dispatch.dispatch_due() == 0  # once the "Send now" is in, the slot is skipped
    dispatch.enqueue_run(answers[0])
    run_jobs()

    assert answers[1] == 0
    assert [run.id for run in _runs(mailing.id)] == [answers[0]]
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}


def test_claim_of_a_slot_already_taken_changes_nothing(mailing_for):
    mailing = mailing_for("ann@example.com", frequency="daily")
    due = mailing.next_send_at
    first = dispatch.claim_and_create_run(mailing.id, due, utcnow())
    second = dispatch.claim_and_create_run(mailing.id, due, utcnow())
    assert first is not None
    assert second is None
    assert len(_runs(mailing.id)) == 1


def _process_env(test_environ: dict, port: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS"))}
    env.update(test_environ)
    env.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(port),
        MAIL_DEFAULT_SENDER="news@mailer.example",
        BASE_URL="http://127.0.0.1:5000",  # production settings sending real SMTP need it
        SCHEDULER_INTERVAL_SECONDS="60",
        **extra,
    )
    return env


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def test_two_dispatcher_processes_and_two_workers_send_nothing_twice(
    test_environ, redis_conn, via_sink, mailing_for, user
):
    mailing = mailing_for(frequency="daily", start_at=utcnow() - timedelta(seconds=2))
    add_clients(user, mailing, 120)
    env = _process_env(test_environ, via_sink.port, SEND_BATCH_SIZE="10")
    cwd = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    dispatchers = [
        subprocess.Popen(_flask("mailing-start"), env=env, cwd=cwd, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    # The last line is the command's answer (logs come before it).
    outputs = sorted(p.communicate(timeout=60)[0].decode().splitlines()[-1] for p in dispatchers)
    assert outputs == ["Dispatched 0 run(s).", "Dispatched 1 run(s)."]
    # One worker runs jobs in its own process (the default), the other forks one per job.
    workers = [
        subprocess.Popen(_flask("worker", "--burst", *extra), env=env, cwd=cwd)
        for extra in ((), ("--fork",))
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    counts = via_sink.to_counts()
    assert len(counts) == 120
    assert set(counts.values()) == {1}
    assert statuses() == {"sent": 120}


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_daily_nine_oclock_stays_nine_local_across_dst_through_dispatch(
    via_sink, mailing_for, run_jobs, tz
):
    zone = ZoneInfo(tz)
    # Both zones change their clocks in March (Berlin on the 29th, New York on the 8th).
    first_day = (
        datetime(2026, 3, 5, 9, 0, tzinfo=zone)
        if "New" in tz
        else datetime(2026, 3, 27, 9, 0, tzinfo=zone)
    )
    start = first_day.astimezone(UTC)
    with time_machine.travel(start - timedelta(minutes=5), tick=False):
        mailing = mailing_for(
            "ann@example.com", frequency="daily", timezone=tz, start_at=start, next_send_at=start
        )
    for day in range(5):
        local_nine = (first_day + timedelta(days=day)).replace(tzinfo=None)
        moment = local_nine.replace(tzinfo=zone).astimezone(UTC) + timedelta(seconds=30)
        with time_machine.travel(moment, tick=False):
            assert dispatch.dispatch_due() == 1
            run_jobs()
    runs = _runs(mailing.id)
    assert [run.scheduled_for.astimezone(zone).strftime("%d %H:%M") for run in runs] == [
        (first_day + timedelta(days=d)).strftime("%d 09:00") for d in range(5)
    ]
    assert len({run.scheduled_for.astimezone(UTC).hour for run in runs}) == 2  # UTC hour moved
    assert via_sink.to_counts() == {"ann@example.com": 5}


def test_a_client_added_after_a_send_gets_the_next_one_of_a_mailing_taking_new_clients(
    via_sink, mailing_for, user, run_jobs
):
    start = utcnow() - timedelta(seconds=5)
    mailing = mailing_for(
        "ann@example.com", frequency="daily", start_at=start, takes_new_clients=True
    )
    dispatch.dispatch_due()
    run_jobs()
    create_client(owner=user, data=ClientData(email="new@example.com"))
    db.session.commit()

    with time_machine.travel(start + timedelta(days=1, seconds=1)):
        assert dispatch.dispatch_due() == 1
        run_jobs()

    assert via_sink.to_counts() == {"ann@example.com": 2, "new@example.com": 1}
    assert len(_runs(mailing.id)) == 2
