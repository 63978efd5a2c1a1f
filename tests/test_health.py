"""GET /healthz: the state of the database, the cache and the queue."""

import pytest

from mailer import create_app


def test_healthz_answers_200_when_everything_is_reachable(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["cache"] == "ok"
    assert body["queue"] == ("ok" if app.config["REDIS_URL"] else "in-process")


@pytest.fixture
def app_with_redis_down(test_environ):
    # Nothing listens on port 1 of loopback.
    environ = {**test_environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    return create_app(overrides={"TESTING": True}, environ=environ)


def test_healthz_answers_503_naming_what_is_unreachable(app_with_redis_down):
    response = app_with_redis_down.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["queue"].startswith("unreachable")
    assert body["cache"].startswith("unreachable")


def test_healthz_answers_503_when_the_database_is_unreachable(test_environ):
    environ = {**test_environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    broken = create_app(overrides={"TESTING": True}, environ=environ)
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"].startswith("unreachable")
