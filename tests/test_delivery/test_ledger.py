"""The marks that keep a client from receiving a run twice, under the races they guard."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from mailer.delivery import dispatch, ledger_connection, sender
from mailer.extensions import db
from mailer.models import Client, Delivery
from tests.test_delivery.conftest import logged_links, statuses
from tests.waiting import someone_waits_for_a_lock, wait_for


def _delivery_of(address: str) -> int:
    return db.session.scalar(
        select(Delivery.id)
        .join(Client, Client.id == Delivery.client_id)
        .where(Client.email == address)
    )


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_delivery_taken_elsewhere_while_the_one_before_it_is_marked_is_not_sent(
    via_sink, mailing_for, run_jobs, monkeypatch, pipelining
):
    via_sink.pipelining = pipelining
    mailing_for("ann@example.com", "bob@example.com", "cat@example.com")
    build = sender._build
    taken = []

    def build_while_another_worker_takes_bob(context, row):
        # Bob's email is built while Ann's mark is on its way to the database:
        # that is when another worker takes Bob's delivery.
        if row.email == "bob@example.com" and not taken:
            with db.engine.begin() as connection:
                connection.execute(
                    update(Delivery).where(Delivery.id == row.id).values(status="sending")
                )
            taken.append(row.id)
        return build(context, row)

    monkeypatch.setattr(sender, "_build", build_while_another_worker_takes_bob)
    dispatch.dispatch_due()
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "cat@example.com": 1}
    # Bob's envelope, written ahead behind Ann's message, was dropped with its connection.
    assert via_sink.connections == (2 if pipelining else 1)
    assert statuses() == {"sent": 2, "sending": 1}  # Bob's is the other worker's to finish
    assert db.session.get(Delivery, _delivery_of("bob@example.com")).tries == 0


def test_batches_go_on_after_the_database_dropped_the_ledger_connection(
    via_sink, mailing_for, sending_config, caplog
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the kept asynchronous connection is PostgreSQL's ledger")
    sending_config(SEND_BATCH_SIZE=2)
    mailing = mailing_for(
        "ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com"
    )
    run_id = dispatch.start_forced_run(mailing.id)
    first, second = dispatch.run_batches(run_id)
    sender.send_batch(run_id, first)
    kept = [c.info.backend_pid for c in ledger_connection._connections.values() if not c.closed]
    assert kept  # one connection, kept for the next batch
    # As after a restart of the database server: its end of the connection is gone.
    db.session.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(:p) pid"), {"p": kept})
    db.session.commit()
    with caplog.at_level("INFO", logger="mailer.delivery.ledger_connection"):
        sender.send_batch(run_id, second)
    assert "database connection was lost" in caplog.text
    assert via_sink.to_counts() == {
        "ann@example.com": 1,
        "bob@example.com": 1,
        "cat@example.com": 1,
        "dan@example.com": 1,
    }
    assert statuses() == {"sent": 4}


def test_a_client_deleted_while_their_outcome_is_written_is_logged_without_them(
    via_sink, send_holding_client_1
):
    # The deletion holds the client's delivery while the worker's outcome waits for it,
    # then commits: the worker must take it as done, not fail its foreign key checks.
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: the outcome cannot wait for a deletion")

    def delete_as_the_outcome_is_written():
        with db.engine.connect() as deleter:
            deleter.execute(text("DELETE FROM clients WHERE email = 'client-1@example.com'"))
            via_sink.released.set()  # the server accepts her email; the worker writes it
            assert wait_for(someone_waits_for_a_lock)
            deleter.commit()

    run_id = send_holding_client_1(delete_as_the_outcome_is_written)

    _assert_all_sent_and_client_1_logged_without_links(via_sink, run_id)


def test_a_step_that_loses_a_deadlock_with_a_deletion_is_sent_again(
    via_sink, send_holding_client_1, caplog
):
    # A deletion locks the client's row, then (by cascade) her delivery; the worker's step
    # locks that delivery (her outcome), then her client (the attempt's link). Caught
    # between the two, PostgreSQL rolls one back. Here the worker's step is the one: the
    # deleter waits longer before it looks for deadlocks. The step must be sent again.
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: there is no deadlock to lose")

    def delete_in_two_halves():
        with db.engine.connect() as deleter:
            deleter.execute(text("SET LOCAL deadlock_timeout = '30s'"))
            deleter.execute(
                text("SELECT id FROM clients WHERE email = 'client-1@example.com' FOR UPDATE")
            )
            via_sink.released.set()  # the server accepts her email; the worker writes it
            assert wait_for(someone_waits_for_a_lock)
            deleter.execute(text("DELETE FROM clients WHERE email = 'client-1@example.com'"))
            deleter.commit()

    with caplog.at_level("WARNING", logger="mailer.delivery.ledger"):
        run_id = send_holding_client_1(delete_in_two_halves)

    assert "deadlock" in caplog.text
    _assert_all_sent_and_client_1_logged_without_links(via_sink, run_id)


def _assert_all_sent_and_client_1_logged_without_links(via_sink, run_id: int) -> None:
    """Each client got one email; client-1's attempt is logged without her (deleted) rows."""
    assert via_sink.to_counts() == {f"client-{n}@example.com": 1 for n in range(3)}
    assert statuses(run_id) == {"sent": 2}
    assert logged_links() == [
        ("client-0@example.com", True, True),
        ("client-1@example.com", False, False),
        ("client-2@example.com", True, True),
    ]
