"""A worker killed with SIGKILL mid-run: after a restart the run completes, nobody twice."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta

import pytest

from mailer.delivery import dispatch, sender
from mailer.extensions import db
from mailer.models import Attempt, Client, Delivery, Run, utcnow
from tests.test_delivery.conftest import add_clients, statuses
from tests.test_delivery.test_dispatch import _flask, _process_env


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
def test_worker_killed_mid_batch_then_restarted_sends_the_rest_once(
    test_environ, redis_conn, via_sink, mailing_for, sending_config, user, pipelining
):
    # With PIPELINING the next email's envelope is already out behind the one in flight.
    via_sink.pipelining = pipelining
    later = utcnow() + timedelta(days=1)
    mailing = mailing_for(start_at=later, next_send_at=later)  # only the forced run is due
    add_clients(user, mailing, 6)
    via_sink.stall_at.add("client-3@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    dispatch.enqueue_run(run_id)
    env = _process_env(test_environ, via_sink.port)
    cwd = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    # The job runs in the worker process itself (no --fork), so SIGKILL stops the sending.
    worker = subprocess.Popen(_flask("worker", "--burst"), env=env, cwd=cwd)
    try:
        assert via_sink.stalled.wait(60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    assert sorted(via_sink.to_counts()) == [f"client-{n}@example.com" for n in range(3)]
    counts = statuses(run_id)
    assert (counts["sent"], counts["sending"]) == (3, 1)
    # Not yet tried: still waiting ("claimed" for the dead worker's next emails on PostgreSQL).
    assert counts["pending"] + counts["claimed"] == 2

    # The next scheduler tick finds the run stalled (SEND_STALL_SECONDS=0 here, 600 by default).
    sending_config(SEND_STALL_SECONDS=0)
    dispatch.dispatch_due()
    restarted = subprocess.Popen(_flask("worker", "--burst"), env=env, cwd=cwd)
    assert restarted.wait(60) == 0

    counts = via_sink.to_counts()
    assert set(counts.values()) == {1}
    assert "client-3@example.com" not in counts  # in flight at the kill: never resent
    assert len(counts) == 5
    assert statuses(run_id) == {"sent": 5, "unknown": 1}
    unknown = db.session.scalars(
        db.select(Attempt).where(Attempt.recipient == "client-3@example.com")
    ).all()
    assert [(a.success, a.reply_code) for a in unknown] == [(False, None)]
    assert "unknown" in unknown[0].reply
    db.session.expire_all()
    assert db.session.get(Run, run_id).finished_at is not None


def test_a_delivery_found_sending_by_a_later_job_becomes_unknown_not_resent(
    via_sink, mailing_for, sending_config, run_jobs
):
    from mailer.models import Delivery

    mailing = mailing_for("ann@example.com", "bob@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    # A worker claimed Ann's delivery and died before the SMTP server answered.
    db.session.execute(
        db.update(Delivery)
        .where(Delivery.client_id == mailing.clients[0].id)
        .values(status="sending", tries=1)
    )
    db.session.commit()
    sending_config(SEND_STALL_SECONDS=0)
    dispatch.enqueue_run(run_id, [d for d in db.session.scalars(db.select(Delivery.id))])
    run_jobs()
    assert via_sink.to_counts() == {"bob@example.com": 1}
    assert statuses(run_id) == {"sent": 1, "unknown": 1}


def test_a_forking_worker_stopped_with_its_whole_process_group_hands_its_batch_back(
    test_environ, redis_conn, via_sink, mailing_for, user
):
    """systemd's stop (KillMode=control-group) sends SIGTERM to the worker and its work
    horse at once: the horse's batch ends after its emails in flight and hands the rest
    back, as the worker without --fork does. RQ's horse died of it, one email "unknown"."""
    later = utcnow() + timedelta(days=1)
    mailing = mailing_for(start_at=later, next_send_at=later)  # only the forced run is due
    add_clients(user, mailing, 30)
    run_id = dispatch.start_forced_run(mailing.id)
    in_order = db.session.scalars(
        db.select(Client.email)
        .join(Delivery, Delivery.client_id == Client.id)
        .where(Delivery.run_id == run_id)
        .order_by(Delivery.id)
    ).all()
    first_chunk = in_order[: sender.FIRST_CHUNK]
    via_sink.stall_at.add(first_chunk[3])  # the batch's first chunk: a second one follows
    dispatch.enqueue_run(run_id)
    env = _process_env(test_environ, via_sink.port)
    cwd = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    worker = subprocess.Popen(_flask("worker", "--burst", "--fork"), env=env, cwd=cwd)
    try:
        assert via_sink.stalled.wait(60)
        with open(f"/proc/{worker.pid}/task/{worker.pid}/children") as children:
            [horse] = [int(pid) for pid in children.read().split()]
        for process in (worker.pid, horse):  # both at once, as systemd stops a service
            os.kill(process, signal.SIGTERM)
        via_sink.released.set()  # the email in flight is answered
        assert worker.wait(60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()

    assert sorted(via_sink.to_counts()) == sorted(first_chunk)
    assert statuses(run_id) == {"sent": sender.FIRST_CHUNK, "pending": 30 - sender.FIRST_CHUNK}
    restarted = subprocess.Popen(_flask("worker", "--burst"), env=env, cwd=cwd)
    assert restarted.wait(60) == 0  # the batch handed back was on the queue
    assert set(via_sink.to_counts().values()) == {1}
    assert statuses(run_id) == {"sent": 30}
