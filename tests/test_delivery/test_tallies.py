"""A run's counts (kept as it sends) always equal what its deliveries and attempts say."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from mailer.delivery import dispatch, ledger, progress, sender, tallies
from mailer.extensions import db
from mailer.models import Attempt, Client, Delivery, User, utcnow
from tests.test_delivery.conftest import add_clients


def _from_the_rows(run_id: int) -> dict:
    db.session.expire_all()
    by_status = Counter(
        db.session.scalars(select(Delivery.status).where(Delivery.run_id == run_id))
    )
    attempts = db.session.execute(
        select(func.count(), func.count().filter(Attempt.success)).where(Attempt.run_id == run_id)
    ).one()
    return {
        "sent": by_status["sent"],
        "failed": by_status["failed"],
        "unknown": by_status["unknown"],
        "failed_or_unknown": by_status["failed"] + by_status["unknown"],
        "cancelled": by_status["cancelled"],
        "pending": sum(by_status[s] for s in ("pending", "retry", "claimed", "sending")),
        "total": sum(by_status.values()),
        "attempts": attempts[0],
        "successes": attempts[1],
    }


def _from_the_tally(run_id: int) -> dict:
    counts = tallies.counts(run_id)
    return {
        **progress.run_progress(run_id),
        "attempts": counts.attempts,
        "successes": counts.successes,
    }


def test_counts_match_the_rows_through_failures_retries_unknowns_and_cancels(
    via_sink, mailing_for, sending_config, user, run_jobs, monkeypatch
):
    monkeypatch.setattr(sender, "CLAIM_CHUNK", 3)  # several chunks, so several tally rows
    mailing = mailing_for("hard@example.com", "soft@example.com", "stuck@example.com")
    add_clients(user, mailing, 7)
    via_sink.rcpt_replies["hard@example.com"] = ["550 5.1.1 no such user"]
    via_sink.rcpt_replies["soft@example.com"] = ["451 4.7.1 try later"]
    run_id = dispatch.start_forced_run(mailing.id)
    assert _from_the_tally(run_id)["pending"] == 10

    # A worker died mid-send on one; another client unsubscribed before their turn.
    stuck = db.session.scalar(select(Client.id).where(Client.email == "stuck@example.com"))
    db.session.execute(
        db.update(Delivery).where(Delivery.client_id == stuck).values(status="sending", tries=1)
    )
    db.session.execute(
        db.update(Client)
        .where(Client.email == "client-6@example.com")
        .values(unsubscribed_at=utcnow())
    )
    db.session.commit()
    sending_config(SEND_STALL_SECONDS=0, SEND_RETRY_BASE_SECONDS=0)
    dispatch.enqueue_run(run_id)
    run_jobs()
    first = _from_the_tally(run_id)
    assert first == _from_the_rows(run_id)
    assert (first["sent"], first["failed"], first["cancelled"]) == (6, 1, 1)
    assert first["pending"] == 2  # the soft failure's retry, and the stalled one

    # The next tick marks the stalled one unknown and sends the retry (no backoff here).
    dispatch.dispatch_due()
    run_jobs()
    done = _from_the_tally(run_id)
    assert done == _from_the_rows(run_id)
    assert (done["sent"], done["unknown"], done["pending"]) == (7, 1, 0)
    assert (done["attempts"], done["successes"]) == (10, 7)


def test_a_stopped_run_counts_what_it_cancelled(
    via_sink, mailing_for, sending_config, user, run_jobs
):
    sending_config(SEND_BATCH_SIZE=4)
    mailing = mailing_for()
    add_clients(user, mailing, 10)
    run_id = dispatch.start_forced_run(mailing.id)
    first, *_ = dispatch.run_batches(run_id)
    sender.send_batch(run_id, first)
    db.session.execute(db.update(User).where(User.id == user.id).values(is_blocked=True))
    db.session.commit()
    dispatch.enqueue_run(run_id)
    run_jobs()
    counts = _from_the_tally(run_id)
    assert counts == _from_the_rows(run_id)
    assert (counts["sent"], counts["cancelled"], counts["pending"]) == (4, 6, 0)


def test_a_late_reply_for_a_delivery_marked_unknown_is_logged_but_not_counted_twice(
    app, mailing_for
):
    mailing = mailing_for("ann@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    delivery = db.session.scalar(select(Delivery).where(Delivery.run_id == run_id))
    record = ledger.ledger_for_engine(1, run_id)
    record.claim([delivery.id], utcnow())
    record.begin_start(delivery.id, utcnow())
    assert record.started()
    # Meanwhile another job found it stalled and marked it unknown.
    attempt = {
        "owner_id": mailing.owner_id,
        "mailing_id": mailing.id,
        "run_id": run_id,
        "delivery_id": delivery.id,
        "client_id": delivery.client_id,
        "recipient": "ann@example.com",
        "attempted_at": utcnow(),
        "success": False,
        "reply_code": None,
        "reply": sender.UNKNOWN_REPLY,
    }
    other = ledger.SessionLedger(1, run_id)
    assert other.unknown(delivery.id, utcnow(), attempt)
    other.finish([], utcnow())
    # Then the first worker's reply arrives after all.
    late = {**attempt, "success": True, "reply_code": 250, "reply": "2.0.0 Ok: queued"}
    record.outcome(delivery.id, "sent", None, utcnow(), late, bounce=False)
    record.finish([], utcnow())
    counts = _from_the_tally(run_id)
    assert counts == _from_the_rows(run_id)
    assert (counts["unknown"], counts["sent"], counts["attempts"]) == (1, 0, 2)
