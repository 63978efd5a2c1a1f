"""Deletions that PostgreSQL rolls back to break a deadlock with a worker are done again."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text, update

from mailer.extensions import db
from mailer.models import Client, Delivery, Run, User
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


@pytest.fixture
def a_worker_writing(app):
    """Start, in a thread, what a worker's write of an email's outcome does: lock the
    delivery (its outcome), wait until the deletion waits for it, then lock the attempt's
    link (ledger.py's _OUTCOME) to `link`, a client or a run, which the deletion holds: a
    deadlock. The deletion looks for deadlocks first (after the server's deadlock_timeout;
    the worker's is 30 s), so it is the one rolled back. Returns a function that joins the
    thread, returning its errors."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a deletion cannot deadlock with a worker")
    errors: list[BaseException] = []

    def start(delivery_id: int, link: Client | Run):
        model, link_id = type(link), link.id

        def write():
            try:
                with app.app_context(), db.engine.connect() as worker:
                    worker.execute(text("SET LOCAL deadlock_timeout = '30s'"))
                    worker.execute(
                        update(Delivery).where(Delivery.id == delivery_id).values(status="sent")
                    )
                    locked.set()
                    assert wait_for(someone_waits_for_a_lock)
                    worker.execute(
                        select(model.id)
                        .where(model.id == link_id)
                        .with_for_update(read=True, key_share=True)  # FOR KEY SHARE
                    )
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

    return start


def _delivery_of(run) -> int:
    return db.session.scalar(select(Delivery.id).where(Delivery.run_id == run.id))


def _deleted_on_the_second_try(post_deletion, worker, caplog) -> str:
    """Post a deletion that loses its deadlock to `worker`; the page it leads to, once the
    deletion was done again (the warning says so) and took the run's delivery along."""
    with caplog.at_level("WARNING", logger="mailer.deadlocks"):
        response = post_deletion()
    assert worker() == []
    assert response.status_code == 200
    assert "deadlock" in caplog.text
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Delivery.id))) == 0
    return response.text


@pytest.mark.parametrize("deleted", ["client", "mailing"])
def test_an_owners_deletion_that_loses_a_deadlock_to_a_worker_is_done_again(
    login, user, sending_to, a_worker_writing, caplog, deleted
):
    mailing, ann, run = sending_to
    # The worker's link that the deletion takes first: the client, or the mailing's run.
    row, link = (ann, ann) if deleted == "client" else (mailing, run)
    model, row_id = type(row), row.id
    worker = a_worker_writing(_delivery_of(run), link)

    browser = login(user)
    page = _deleted_on_the_second_try(
        lambda: browser.post(f"/{deleted}s/{row_id}/delete", follow_redirects=True), worker, caplog
    )

    assert f"{deleted.capitalize()} deleted." in page
    assert db.session.get(model, row_id) is None


def test_a_user_deletion_in_the_admin_that_loses_a_deadlock_to_a_worker_is_done_again(
    login, superuser, user, sending_to, a_worker_writing, delete_user_in_admin, caplog
):
    _, ann, run = sending_to
    user_id, ann_id = user.id, ann.id
    worker = a_worker_writing(_delivery_of(run), ann)
    browser = login(superuser)

    page = _deleted_on_the_second_try(
        lambda: delete_user_in_admin(browser, user_id), worker, caplog
    )

    assert "Record was successfully deleted." in page
    assert db.session.get(User, user_id) is None
    assert db.session.get(Client, ann_id) is None
