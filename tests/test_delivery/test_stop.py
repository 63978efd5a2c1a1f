"""A disabled mailing or a blocked owner sends nothing more after the batch in flight."""

from __future__ import annotations

import pytest

from mailer.delivery import dispatch, sender
from mailer.extensions import db
from mailer.models import Mailing, Run, User
from tests.test_delivery.conftest import add_clients, statuses, while_the_sink_holds_one


def _stop_mailing(mailing_id: int) -> None:
    db.session.execute(db.update(Mailing).where(Mailing.id == mailing_id).values(is_active=False))
    db.session.commit()


def _block_owner(mailing_id: int) -> None:
    owner_id = db.session.get(Mailing, mailing_id).owner_id
    db.session.execute(db.update(User).where(User.id == owner_id).values(is_blocked=True))
    db.session.commit()


@pytest.mark.parametrize("stop", [_stop_mailing, _block_owner], ids=["disabled", "blocked"])
def test_stop_during_a_batch_lets_it_finish_and_cancels_the_rest(
    app, via_sink, mailing_for, sending_config, user, run_jobs, stop
):
    sending_config(SEND_BATCH_SIZE=3)
    mailing = mailing_for()
    add_clients(user, mailing, 9)
    via_sink.stall_at.add("client-1@example.com")  # the second email of the first batch
    run_id = dispatch.start_forced_run(mailing.id)
    first, *rest = dispatch.run_batches(run_id)
    while_the_sink_holds_one(app, via_sink, run_id, first, lambda: stop(mailing.id))
    dispatch.enqueue_run(run_id)  # the remaining batches reach a worker
    run_jobs()
    assert sorted(via_sink.to_counts()) == [f"client-{n}@example.com" for n in range(3)]
    assert statuses(run_id) == {"sent": 3, "cancelled": 6}
    db.session.expire_all()
    assert db.session.get(Run, run_id).finished_at is not None


@pytest.mark.parametrize("stop", [_stop_mailing, _block_owner], ids=["disabled", "blocked"])
def test_stop_during_a_big_batch_takes_effect_after_the_chunk_in_flight(
    app, via_sink, mailing_for, sending_config, user, run_jobs, monkeypatch, stop
):
    # One batch of 9, claimed 3 at a time: the stop ends it after its first chunk.
    sending_config(SEND_BATCH_SIZE=9)
    monkeypatch.setattr(sender, "CLAIM_CHUNK", 3)
    mailing = mailing_for()
    add_clients(user, mailing, 9)
    via_sink.stall_at.add("client-1@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    (batch,) = dispatch.run_batches(run_id)
    while_the_sink_holds_one(app, via_sink, run_id, batch, lambda: stop(mailing.id))
    assert sorted(via_sink.to_counts()) == [f"client-{n}@example.com" for n in range(3)]
    assert statuses(run_id) == {"sent": 3, "cancelled": 6}
    db.session.expire_all()
    assert db.session.get(Run, run_id).finished_at is not None


def test_forced_run_of_a_disabled_mailing_is_refused(mailing_for):
    mailing = mailing_for("ann@example.com", is_active=False)
    assert dispatch.start_forced_run(mailing.id) is None
    assert statuses() == {}
