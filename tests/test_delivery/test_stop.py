"""A disabled mailing or a blocked owner sends nothing more after the batch in flight; nor
does a run to the clients its owner took out of the mailing meanwhile."""

from __future__ import annotations

import pytest

from mailer.auth.staff import block_user
from mailer.delivery import dispatch, sender, stopping, tallies
from mailer.delivery.unsubscribe import unsubscribe_token
from mailer.extensions import db
from mailer.mailings import mailing_services as services
from mailer.models import Client, Delivery, Mailing, Run, User, mailing_clients
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


def test_a_client_who_unsubscribes_during_a_batch_gets_nothing_more_from_it(
    app, via_sink, mailing_for, sending_config, user, monkeypatch
):
    """The batch read who may receive when it began: a client who unsubscribed while it
    sent (for minutes, under a rate limit) still got its email."""
    sending_config(SEND_BATCH_SIZE=9)
    monkeypatch.setattr(sender, "CLAIM_CHUNK", 3)
    mailing = mailing_for()
    add_clients(user, mailing, 9)
    leaving = db.session.scalar(db.select(Client).where(Client.email == "client-5@example.com"))
    link = f"/u/{unsubscribe_token(leaving.id, leaving.email)}"
    via_sink.stall_at.add("client-1@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    (batch,) = dispatch.run_batches(run_id)

    def unsubscribe() -> None:
        assert app.test_client().post(link).status_code == 303

    while_the_sink_holds_one(app, via_sink, run_id, batch, unsubscribe)

    assert "client-5@example.com" not in via_sink.to_counts()
    assert len(via_sink.to_counts()) == 8
    assert statuses(run_id) == {"sent": 8, "cancelled": 1}
    assert tallies.counts(run_id).cancelled == 1
    db.session.expire_all()
    assert db.session.get(Run, run_id).finished_at is not None


@pytest.fixture
def batch_of_30(via_sink, mailing_for, sending_config, user):
    """A run of 30 clients in one batch, whose second email the sink holds: (mailing, run
    id, the batch's delivery ids)."""
    sending_config(SEND_BATCH_SIZE=30)
    mailing = mailing_for()
    add_clients(user, mailing, 30)
    via_sink.stall_at.add("client-1@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    (batch,) = dispatch.run_batches(run_id)
    return mailing, run_id, batch


@pytest.mark.parametrize("stop", [_stop_mailing, _block_owner], ids=["disabled", "blocked"])
def test_a_stop_reaches_a_big_batch_after_its_first_few_emails(app, via_sink, batch_of_30, stop):
    """A batch claims a few deliveries first, then what it sends in about a second: a stop
    (or a client taken out) waits for no more, even at a rate limit of one a second."""
    mailing, run_id, batch = batch_of_30
    while_the_sink_holds_one(app, via_sink, run_id, batch, lambda: stop(mailing.id))
    assert len(via_sink.to_counts()) == sender.FIRST_CHUNK
    assert statuses(run_id) == {"sent": sender.FIRST_CHUNK, "cancelled": 30 - sender.FIRST_CHUNK}


def test_at_a_rate_limit_a_stop_lets_out_no_more_than_a_seconds_worth(
    app, via_sink, batch_of_30, sending_config
):
    """The limit counts per calendar second: a chunk that fits in what is left of one goes
    out at once and looks fast, so chunks are sized from the limit, not from their pace."""
    sending_config(SEND_RATE_PER_SECOND=5)
    mailing, run_id, batch = batch_of_30
    while_the_sink_holds_one(app, via_sink, run_id, batch, lambda: _stop_mailing(mailing.id))
    assert statuses(run_id) == {"sent": 5, "cancelled": 25}


@pytest.fixture
def hand_back():
    """What the worker does when asked to stop (worker.MailerWorker), undone afterwards."""
    yield sender.HAND_BACK.set
    sender.HAND_BACK.clear()


def test_a_stopping_worker_hands_the_rest_of_its_batch_back_and_nothing_is_lost(
    app, via_sink, batch_of_30, run_jobs, hand_back, caplog
):
    """SIGTERM mid-batch (`flask up` stopping, a deploy): the worker ends after its chunk in
    flight instead of after the whole batch, which a rate limit can make minutes long."""
    _mailing, run_id, batch = batch_of_30
    caplog.set_level("INFO", logger="mailer.delivery.jobs")
    returned = while_the_sink_holds_one(app, via_sink, run_id, batch, hand_back)
    handed_back = len(batch) - sender.FIRST_CHUNK
    assert f"run {run_id}: {handed_back} handed back to the queue" in caplog.text
    assert "handed_back=[" not in caplog.text  # a count, not a line of every id
    sender.HAND_BACK.clear()  # the next worker
    run_jobs()

    assert returned["sent"] == sender.FIRST_CHUNK  # this job stopped after its first chunk
    assert via_sink.to_counts() == {f"client-{n}@example.com": 1 for n in range(30)}
    assert statuses(run_id) == {"sent": 30}


def test_the_worker_asked_to_stop_tells_the_batch_to_hand_back(redis_conn, hand_back):
    from mailer.delivery.worker import MailerWorker

    MailerWorker(["mailer"], connection=redis_conn).handle_warm_shutdown_request()
    assert sender.HAND_BACK.is_set()


@pytest.mark.parametrize(
    ("size", "seconds", "next_size"),
    [
        (10, 10.0, 1),  # a rate limit of one email a second
        (10, 2.0, 5),  # five a second
        (10, 0.003, sender.CLAIM_CHUNK),  # as fast as the sink takes them
        (250, 5.0, 50),  # a slow server: 100 ms an email
    ],
)
def test_a_chunk_holds_about_a_seconds_sending(size, seconds, next_size):
    assert sender._next_chunk(size, seconds) == next_size


@pytest.mark.parametrize(("per_second", "most"), [(0, sender.CLAIM_CHUNK), (1, 1), (5, 5)])
def test_a_rate_limit_caps_a_chunk_at_a_seconds_sends(per_second, most):
    assert sender._most_per_chunk(per_second) == most
    assert sender._next_chunk(4, 0.007, most) == most  # four sent at once, within a second


def test_disabling_a_mailing_the_daily_quota_paused_cancels_what_it_waits_to_send(
    mailing_for, user
):
    """No worker is on a paused run to see the stop: the disable cancels its emails at once,
    so it does not show "resumes tomorrow" under "disabled", nor keep Send now greyed."""
    mailing = mailing_for()
    add_clients(user, mailing, 3)
    run_id = dispatch.start_forced_run(mailing.id)
    db.session.execute(db.update(Run).where(Run.id == run_id).values(paused_until=db.func.now()))
    db.session.commit()

    services.disable_mailing(mailing=db.session.get(Mailing, mailing.id), by=user)
    db.session.commit()

    assert statuses(run_id) == {"cancelled": 3}
    run = db.session.get(Run, run_id)
    assert run.finished_at is not None
    assert run.paused_until is None
    assert tallies.counts(run_id).cancelled == 3


def test_blocking_an_owner_cancels_what_their_paused_runs_wait_to_send(mailing_for, user, manager):
    mailing = mailing_for()
    add_clients(user, mailing, 2)
    run_id = dispatch.start_forced_run(mailing.id)

    block_user(user=user, by=manager)
    db.session.commit()

    assert statuses(run_id) == {"cancelled": 2}
    assert db.session.get(Run, run_id).finished_at is not None


def test_forced_run_of_a_disabled_mailing_is_refused(mailing_for):
    mailing = mailing_for("ann@example.com", is_active=False)
    assert dispatch.start_forced_run(mailing.id) is None
    assert statuses() == {}


def test_clients_taken_out_of_a_mailing_while_it_sends_get_nothing_more_from_it(
    app, via_sink, mailing_for, sending_config, user, run_jobs
):
    """Its owner edits the clients mid-run: the batch in flight goes on, the rest of the
    run skips those taken out, and the run still finishes."""
    sending_config(SEND_BATCH_SIZE=3)
    mailing = mailing_for()
    ids = add_clients(user, mailing, 9)
    kept = [ids[0], ids[1], ids[2], ids[6]]
    via_sink.stall_at.add("client-1@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    first, *rest = dispatch.run_batches(run_id)

    def take_out_clients() -> None:
        edited = db.session.get(Mailing, mailing.id)
        services.update_mailing(
            mailing=edited,
            data=services.MailingData(
                message_id=edited.message_id,
                clients=services.ClientSelection(scope="chosen", ids=kept),
                start_at=edited.start_at,
                end_at=edited.end_at,
                frequency=edited.frequency,
                timezone=edited.timezone,
            ),
        )
        db.session.commit()

    while_the_sink_holds_one(app, via_sink, run_id, first, take_out_clients)
    dispatch.enqueue_run(run_id)  # the remaining batches reach a worker
    run_jobs()

    assert sorted(via_sink.to_counts()) == [f"client-{n}@example.com" for n in (0, 1, 2, 6)]
    assert statuses(run_id) == {"sent": 4, "cancelled": 5}
    assert tallies.counts(run_id).cancelled == 5
    db.session.expire_all()
    assert db.session.get(Run, run_id).finished_at is not None


def test_a_run_left_with_nothing_to_send_by_an_edit_is_finished(mailing_for, user):
    mailing = mailing_for()
    ids = add_clients(user, mailing, 3)
    run_id = dispatch.start_forced_run(mailing.id)  # nothing sent yet
    db.session.execute(
        db.delete(mailing_clients).where(
            mailing_clients.c.mailing_id == mailing.id, mailing_clients.c.client_id != ids[0]
        )
    )
    db.session.execute(
        db.update(Delivery).where(Delivery.client_id == ids[0]).values(status="sent")
    )

    assert stopping.cancel_dropped_clients(mailing.id) == 2
    db.session.commit()

    assert statuses(run_id) == {"sent": 1, "cancelled": 2}
    assert db.session.get(Run, run_id).finished_at is not None
