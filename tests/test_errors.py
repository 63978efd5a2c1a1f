"""Error pages: a clear message and never a traceback."""

import io
import logging

import pytest
from flask import Blueprint

from mailer import create_app


def test_unknown_page_answers_404_with_a_page_of_ours(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"This page does not exist" in response.data


def test_an_error_page_is_called_by_what_happened_not_by_its_number(client, login, user):
    """A screen reader's list of tabs, or a bookmark, said "404 · Mailer"."""
    missing = client.get("/no/such/page").text
    assert "<title>Page not found · Mailer</title>" in missing
    assert '<h1 class="display-5">Page not found</h1>' in missing
    assert "Error 404" in missing
    russian = client.get("/no/such/page", headers={"Accept-Language": "ru"}).text
    assert "<title>Страница не найдена · Mailer</title>" in russian


def test_a_visitor_is_not_told_a_missing_page_may_not_be_theirs(client, login, user):
    for path in ("/no/such/page", "/blog/?page=99", "/blog/999"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "This page does not exist." in response.text
        assert "not yours" not in response.text
    assert "or it is not yours" in login(user).get("/clients/999/edit").text


def test_a_file_too_large_says_the_limit_and_leads_back_to_its_form(app, login, user, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024 * 1024)
    form = "http://localhost/clients/import"

    refused = login(user).post(
        "/clients/import",
        data={"file": (io.BytesIO(b"x" * (1024 * 1024 + 1)), "clients.csv")},
        content_type="multipart/form-data",
        headers={"Referer": form},
    )

    assert refused.status_code == 413
    assert "The file is too large: this server takes files up to 1 MB." in refused.text
    assert f'href="{form}" id="back-to-form"' in refused.text


def test_unexpected_error_shows_a_plain_message_and_logs_the_traceback(app, test_environ, caplog):
    from mailer import create_app

    broken = create_app(overrides={"TESTING": True}, environ=test_environ)
    failing = Blueprint("failing", __name__)

    @failing.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    broken.register_blueprint(failing)
    caplog.set_level(logging.ERROR)
    response = broken.test_client().get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.data
    assert b"secret internals" not in response.data
    assert b"Traceback" not in response.data
    assert any("Unhandled error on GET /boom" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("path", ["/healthz"])
def test_json_clients_get_json_errors(client, path):
    response = client.post(path, headers={"Accept": "application/json"})
    assert response.status_code == 405
    assert response.get_json() == {"error": "This action is not allowed here."}


@pytest.mark.parametrize("path", ["/clients/?q=a%00b", "/attempts/?owner=%00"])
def test_a_nul_character_in_a_search_is_refused_in_plain_words(login, user, path):
    response = login(user).get(path)

    assert response.status_code == 400
    assert "NUL character" in response.text


def test_a_nul_character_in_a_form_is_refused_and_nothing_is_saved(login, user):
    from mailer.models import Client

    response = login(user).post(
        "/clients/new", data={"email": "a@example.com", "full_name": "x\x00y"}
    )

    assert response.status_code == 400
    assert "NUL character" in response.text
    assert Client.owned_by(user).count() == 0


@pytest.mark.parametrize("number", ["99999999999999999999", "-5", "0", "two", "²"])
def test_no_page_number_typed_into_the_address_bar_makes_an_error_page(
    client, login, user, manager, number
):
    from tests import factories

    mailing = factories.make_mailing(user)
    owner_pages = ["/clients/", "/messages/", "/attempts/", "/mailings/", "/reports/", "/blog/"]
    owner_pages.append(f"/mailings/{mailing.id}")
    manager_pages = ["/manager/users", "/manager/mailings", "/manager/attempts"]
    for viewer, paths in ((user, owner_pages), (manager, manager_pages)):
        login(viewer)
        for path in paths:
            answer = client.get(f"{path}?page={number}")
            if number.startswith("9"):
                assert answer.status_code in (200, 404), path  # past the end, never a 500
            else:
                assert answer.status_code == 200, path  # not a page number: the first page


@pytest.fixture
def app_with_no_database(test_environ):
    environ = {**test_environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    return create_app(overrides={"TESTING": True, "WTF_CSRF_ENABLED": False}, environ=environ)


def _one_line_logged(caplog, line: str) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in errors] == [line]
    assert errors[0].exc_info is None  # no traceback: the outage is not mailer's bug


def test_a_page_says_the_database_is_unreachable_with_one_log_line(app_with_no_database, caplog):
    browser = app_with_no_database.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = "1:stamp:0"  # a logged-in user, whom nothing can load now
    caplog.set_level(logging.INFO)

    response = browser.get("/mailings/")

    assert response.status_code == 503
    assert "Mailer cannot reach its database just now" in response.text
    _one_line_logged(caplog, "database unreachable on GET /mailings/")
    assert "port 1 failed" in caplog.text


def test_the_health_check_answers_json_to_a_logged_in_browser_with_the_database_down(
    app_with_no_database,
):
    browser = app_with_no_database.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = "1:stamp:0"  # the user is loaded before the check runs

    response = browser.get("/healthz", headers={"Accept": "text/html"})

    assert response.status_code == 503
    assert response.is_json
    assert "cannot reach its database" in response.json["error"]


def test_a_page_says_redis_is_unreachable_with_one_log_line(app_with_no_redis, caplog):
    caplog.set_level(logging.INFO)

    response = app_with_no_redis.test_client().post(
        "/auth/login", data={"email": "ann@example.com", "password": "whatever-it-is"}
    )

    assert response.status_code == 503
    assert "Mailer cannot reach its Redis server just now" in response.text
    _one_line_logged(caplog, "Redis unreachable on POST /auth/login")


def test_a_database_not_migrated_yet_says_mailer_is_being_upgraded_with_one_log_line(
    login, user, monkeypatch, caplog
):
    """New code on a database `flask db upgrade` has not reached yet (a deploy in
    progress): every page was a 500 and a traceback. The error is the driver's own."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from mailer.mailings import mailing_queries

    def query_of_a_column_not_there_yet(owner):
        behind = sqlite3.OperationalError("no such column: mailings.name")
        raise OperationalError("SELECT mailings.name FROM mailings", {}, behind)

    monkeypatch.setattr(mailing_queries, "mailings_query", query_of_a_column_not_there_yet)
    caplog.set_level(logging.INFO)

    response = login(user).get("/mailings/")

    assert response.status_code == 503
    assert "Mailer is being upgraded just now. Please try again in a few minutes." in response.text
    _one_line_logged(
        caplog,
        "the database is not migrated to this code's schema (flask db upgrade) on GET /mailings/",
    )


def test_an_error_on_a_page_with_a_token_logs_the_path_with_the_token_redacted(
    test_environ, caplog
):
    broken = create_app(overrides={"TESTING": True}, environ=test_environ)
    failing = Blueprint("failing", __name__)

    @failing.route("/boom/<token>")
    def boom(token):
        raise RuntimeError("unexpected")

    broken.register_blueprint(failing)
    token = "eyJpZCI6Mn0.axSnpw.Ed5yLcdQb2xQN-SiD4LiyQRZNAw"
    caplog.set_level(logging.INFO)

    assert broken.test_client().get(f"/boom/{token}").status_code == 500

    assert "Unhandled error on GET /boom/[redacted]" in caplog.text
    assert token not in caplog.text


def test_forms_refused_over_plain_http_with_secure_cookies_say_why_in_the_log(test_environ, caplog):
    """Production settings tried over http://: the browser keeps the session cookie to
    HTTPS, so every form fails its CSRF check; the log says what to set."""
    production = create_app(overrides={"TESTING": True}, environ=test_environ)
    assert production.config["SESSION_COOKIE_SECURE"]
    caplog.set_level(logging.WARNING)

    response = production.test_client().post(
        "/auth/login", data={"email": "ann@example.com", "password": "whatever-it-is"}
    )

    assert response.status_code == 400
    assert "SESSION_COOKIE_SECURE=False" in caplog.text
    assert "TRUSTED_PROXIES" in caplog.text
    caplog.clear()
    production.test_client().post("/auth/login", base_url="https://localhost")
    assert "plain HTTP" not in caplog.text
