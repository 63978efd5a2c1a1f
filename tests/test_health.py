"""GET /healthz: the state of the database, the cache and the queue, and whether
dispatch runs."""

import logging
from datetime import timedelta

import time_machine

from mailer import create_app
from mailer.delivery import dispatch
from mailer.models import utcnow


def test_healthz_answers_200_when_everything_is_reachable(client, app):
    dispatch.dispatch_due()  # the scheduler's tick
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["cache"] == "ok"
    assert body["queue"] == ("ok" if app.config["REDIS_URL"] else "in-process")
    assert body["dispatch"] == "ok"


def test_healthz_answers_503_when_dispatch_has_not_run_for_ten_minutes(client):
    """A stopped scheduler (or, with Redis, no worker) sends nothing, and said nothing."""
    now = utcnow()
    dispatch.dispatch_due(now - timedelta(minutes=9))
    with time_machine.travel(now, tick=False):
        assert client.get("/healthz").status_code == 200
    dispatch.dispatch_due(now - timedelta(minutes=11))
    with time_machine.travel(now, tick=False):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["dispatch"] == "late: last ran 660 s ago"
    assert body["database"] == "ok"


def test_a_web_started_before_dispatch_first_ran_waits_ten_minutes_for_it(test_environ):
    """The web may start before the scheduler; one that never starts is noticed."""
    started = utcnow()
    with time_machine.travel(started, tick=False):
        fresh = create_app(overrides={"TESTING": True}, environ=test_environ)
    browser = fresh.test_client()
    with time_machine.travel(started + timedelta(minutes=9), tick=False):
        response = browser.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["dispatch"] == "not run yet"
    with time_machine.travel(started + timedelta(minutes=11), tick=False):
        response = browser.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["dispatch"] == "late: not run in the 660 s since start"


def test_healthz_answers_503_naming_what_is_unreachable(app_with_no_redis):
    response = app_with_no_redis.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["queue"].startswith("unreachable")
    assert body["cache"].startswith("unreachable")


def test_healthz_answers_503_when_the_database_is_unreachable(test_environ, caplog):
    environ = {**test_environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    broken = create_app(overrides={"TESTING": True}, environ=environ)
    with caplog.at_level(logging.WARNING, logger="mailer.main.health"):
        response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"].startswith("unreachable")
    [said] = [r.getMessage() for r in caplog.records if "health check database" in r.getMessage()]
    assert said == (
        'health check database failed: connection to server at "127.0.0.1", port 1 failed:'
        " Connection refused"
    )  # one line: not SQLAlchemy's three, with its "Background on this error" link


def test_healthz_answers_503_when_the_database_lacks_migrations(client, caplog):
    """A deploy whose `flask db upgrade` was forgotten: pages that read a new column
    answered 500 while the check said the database was fine."""
    from sqlalchemy import text

    from mailer.extensions import db

    head = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    db.session.execute(text("UPDATE alembic_version SET version_num = '7e3f4a5b6c8d'"))
    db.session.commit()
    try:
        response = client.get("/healthz")
    finally:
        db.session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        db.session.commit()

    assert response.status_code == 503
    assert response.get_json()["database"] == (
        f"migrations pending: the database is at 7e3f4a5b6c8d, the code wants {head};"
        " run `flask --app wsgi db upgrade`"
    )
    assert "health check database failed: migrations pending" in caplog.text
