"""Deletions that PostgreSQL rolls back to break a deadlock with a worker are done again."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from mailer.extensions import db
from mailer.models import Client, Delivery, Mailing, User
from tests import factories
from tests.waiting import someone_waits_for_a_lock, wait_for


@pytest.fixture
def sending_to(user):
    """A mailing to one client whose delivery is "sending" in a run: (mailing, client, run)."""
    client = factories.make_client(user, "ann@example.com")
    mailing = factories.make_mailing(user, clients=[client])
    run = factories.make_run(mailing)
    factories.make_delivery(run, client, status="sending")
    return mailing, client, run


# The attempt's links a worker's write locks after the outcome (ledger.py's _OUTCOME).
_LINK = {
    "client": "SELECT id FROM clients WHERE id = :id FOR KEY SHARE",
    "run": "SELECT id FROM runs WHERE id = :id FOR KEY SHARE",
}


@pytest.fixture
def a_worker_writing(app):
    """Start, in a thread, what a worker's write of an email's outcome does: lock the
    delivery (its outcome), wait until the deletion waits for it, then lock the attempt's
    link to the client or the run, which the deletion holds: a deadlock. The deletion looks
    for deadlocks first (after the server's deadlock_timeout; the worker's is 30 s), so it
    is the one rolled back. Returns a function that joins the thread, returning its errors."""
    errors: list[BaseException] = []

    def start(delivery_id: int, link: str, link_id: int):
        def write():
            try:
                with app.app_context(), db.engine.connect() as worker:
                    worker.execute(text("SET LOCAL deadlock_timeout = '30s'"))
                    worker.execute(
                        text("UPDATE deliveries SET status = 'sent' WHERE id = :id"),
                        {"id": delivery_id},
                    )
                    locked.set()
                    assert wait_for(someone_waits_for_a_lock)
                    worker.execute(text(_LINK[link]), {"id": link_id})
                    worker.commit()
            except BaseException as error:  # noqa: BLE001 - reported by the test
                errors.append(error)
                locked.set()

        locked = threading.Event()
        thread = threading.Thread(target=write)
        thread.start()
        assert locked.wait(30)

        def joined() -> list[BaseException]:
            thread.join(60)
            return errors

        return joined

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a deletion cannot deadlock with a worker")
    return start


def _delivery_of(run) -> int:
    return db.session.scalar(select(Delivery.id).where(Delivery.run_id == run.id))


def test_a_client_deletion_that_loses_a_deadlock_to_a_worker_is_done_again(
    login, user, sending_to, a_worker_writing, caplog
):
    _, client, run = sending_to
    worker = a_worker_writing(_delivery_of(run), "client", client.id)

    with caplog.at_level("WARNING", logger="mailer.deadlocks"):
        response = login(user).post(f"/clients/{client.id}/delete", follow_redirects=True)

    assert worker() == []
    assert response.status_code == 200
    assert "Client deleted." in response.text
    assert "deadlock" in caplog.text
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Client.id))) == 0
    assert db.session.scalar(select(func.count(Delivery.id))) == 0


def test_a_mailing_deletion_that_loses_a_deadlock_to_a_worker_is_done_again(
    login, user, sending_to, a_worker_writing, caplog
):
    mailing, _, run = sending_to
    worker = a_worker_writing(_delivery_of(run), "run", run.id)

    with caplog.at_level("WARNING", logger="mailer.deadlocks"):
        response = login(user).post(f"/mailings/{mailing.id}/delete", follow_redirects=True)

    assert worker() == []
    assert response.status_code == 200
    assert "Mailing deleted." in response.text
    assert "deadlock" in caplog.text
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Mailing.id))) == 0
    assert db.session.scalar(select(func.count(Delivery.id))) == 0


def test_a_user_deletion_in_the_admin_that_loses_a_deadlock_to_a_worker_is_done_again(
    client, login, superuser, user, sending_to, a_worker_writing, caplog
):
    _, ann, run = sending_to
    user_id = user.id
    worker = a_worker_writing(_delivery_of(run), "client", ann.id)
    login(superuser)

    with caplog.at_level("WARNING", logger="mailer.deadlocks"):
        response = client.post(
            "/admin/users/delete/", data={"id": str(user_id)}, follow_redirects=True
        )

    assert worker() == []
    assert "Record was successfully deleted." in response.text
    assert "Failed to delete" not in response.text
    assert "deadlock" in caplog.text
    db.session.expire_all()
    assert db.session.get(User, user_id) is None
    assert db.session.scalar(select(func.count(Client.id))) == 0
    assert db.session.scalar(select(func.count(Delivery.id))) == 0
