"""What a worker's log says of a job that something held up: one line that names it (the
mail server, the daily limit, the database), never a traceback."""

from __future__ import annotations

import logging

import psycopg2
import pytest

from mailer import create_app, outages
from mailer.delivery import dispatch, jobs
from tests.test_delivery.conftest import free_port, statuses


def test_a_batch_the_mail_server_held_up_says_so_in_a_warning(
    send_via, mailing_for, run_jobs, caplog
):
    send_via(free_port())  # nothing listens there
    mailing_for("ann@example.com")
    caplog.set_level(logging.INFO, logger="mailer.delivery.jobs")

    dispatch.dispatch_due()
    run_jobs()

    assert statuses() == {"retry": 1}
    [line] = [r for r in caplog.records if "batch of 1 done" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert line.getMessage().endswith(" UTC")
    assert "sent 0, failed 0, retry 1, cancelled 0, unknown 0; the mail server could not" in (
        line.getMessage()
    )


@pytest.fixture
def database_away(test_environ):
    """The app of a worker whose database cannot be reached (nothing listens there)."""
    environ = {
        **test_environ,
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/mailer",
        "REDIS_URL": "",
    }
    return create_app(overrides={"TESTING": True}, environ=environ)


def test_jobs_the_database_went_away_under_say_so_in_one_line(database_away, caplog):
    caplog.set_level(logging.WARNING, logger="mailer.delivery.jobs")

    with database_away.app_context():
        ticked = jobs.dispatch_job()
        sent = jobs.send_batch_job(1, [1, 2, 3])

    assert ticked == 0
    assert sent == {"error": "database unreachable"}
    lines = [r.getMessage() for r in caplog.records if r.name == "mailer.delivery.jobs"]
    assert [line.split(": database unreachable: ")[0] for line in lines] == [
        "dispatch skipped",
        "run 1: batch of 3 stopped",
    ]
    assert "Traceback" not in caplog.text
    assert not any(r.exc_info for r in caplog.records)


def test_a_connection_the_server_ended_counts_as_the_database_gone(app):
    """The sender's own psycopg2 connection raises psycopg2's errors as they are."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the sender's own connection is PostgreSQL's")
    from mailer.extensions import db

    arguments, options = db.engine.dialect.create_connect_args(db.engine.url)
    connection = psycopg2.connect(*arguments, **options)
    try:
        with connection.cursor() as cursor, pytest.raises(psycopg2.OperationalError) as ended:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        with pytest.raises(psycopg2.InterfaceError) as closed:
            connection.cursor().execute("SELECT 1")
    finally:
        connection.close()

    assert outages.unreachable(ended.value) == "database"
    assert outages.unreachable(closed.value) == "database"
    assert outages.unreachable(psycopg2.errors.DeadlockDetected()) is None
    assert outages.unreachable(psycopg2.errors.QueryCanceled()) is None
