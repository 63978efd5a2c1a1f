"""Logging in and out, safe redirects, blocked users, cookies and CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from mailer import create_app
from mailer.auth import sessions
from mailer.auth.staff import block_user
from mailer.extensions import db
from mailer.models import User
from tests import factories

PASSWORD = factories.PASSWORD


def log_in(client, email="user@example.com", password=PASSWORD, **extra):
    return client.post("/auth/login", data={"email": email, "password": password, **extra})


def logged_in_id(client):
    """The id of the user this browser's session is logged in as, if any."""
    with client.session_transaction() as session:
        key = session.get("_user_id")
    user = sessions.user_for(key) if key else None
    return str(user.id) if user else None


def test_right_password_logs_in_and_records_the_time(client, user):
    response = log_in(client, email="USER@example.com")

    assert response.status_code == 302
    assert response.location == "/"
    assert logged_in_id(client) == str(user.id)
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is not None


def test_the_profile_shows_the_login_before_this_one(client, user):
    """So that a login the user did not make can be noticed."""
    with time_machine.travel(datetime(2026, 3, 1, 9, 15, tzinfo=UTC), tick=False):
        log_in(client)
        first = client.get("/auth/profile").text
        client.post("/auth/logout")  # that day: now, that login's cookie has long expired
    with time_machine.travel(datetime(2026, 3, 2, 18, 40, tzinfo=UTC), tick=False):
        log_in(client)
        second = client.get("/auth/profile").text

    assert "Previous login" not in first  # none before the first
    assert "Previous login: 2026-03-01 09:15" in second  # the user's zone is UTC
    assert "2026-03-02 18:40" not in second


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client, user):
    wrong_password = log_in(client, password="not-the-password")
    unknown_email = log_in(client, email="nobody@example.com")

    for response in (wrong_password, unknown_email):
        assert response.status_code == 200
        assert b"Wrong email or password." in response.data
    assert logged_in_id(client) is None


def test_login_goes_on_to_next_on_this_site(client, user):
    response = log_in(client, next="/auth/profile?tab=1")

    assert response.location == "/auth/profile?tab=1"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "javascript:alert(1)",
        "/\r\nSet-Cookie: a=b",  # a header cannot hold it: it was a server error
        "/\t/evil.example",
    ],
)
def test_login_refuses_to_redirect_to_another_site(client, user, target):
    response = log_in(client, next=target)

    assert response.location == "/"


def test_login_page_carries_next_from_the_query_string(client, user):
    page = client.get("/auth/profile")
    assert page.status_code == 302
    assert page.location.startswith("/auth/login?next=")

    form = client.get(page.location)
    assert b'name="next" type="hidden" value="/auth/profile"' in form.data


def test_logout_is_a_post_and_ends_the_session(client, login, user):
    login(user)

    opened = client.get("/auth/logout")  # typed or bookmarked: a page with the button
    assert opened.status_code == 200
    assert '<form method="post" action="/auth/logout"' in opened.text
    assert f"You are logged in as {user.email}." in opened.text
    assert logged_in_id(client) == str(user.id)  # opening it logs nobody out
    assert client.post("/auth/logout").status_code == 302
    assert logged_in_id(client) is None
    assert client.get("/auth/logout").location == "/"  # nobody to log out: home


def test_blocked_user_cannot_log_in_and_is_told_why(client, user, manager):
    block_user(user=user, by=manager)
    db.session.commit()

    response = log_in(client)

    assert response.status_code == 403
    assert b"Your account has been blocked" in response.data
    assert logged_in_id(client) is None


def test_blocked_user_is_logged_out_at_the_next_request(client, login, user, manager):
    login(user)
    assert client.get("/auth/profile").status_code == 200

    block_user(user=user, by=manager)
    db.session.commit()
    response = client.get("/auth/profile")

    assert response.status_code == 302
    assert response.location.startswith("/auth/login")
    assert logged_in_id(client) is None


@pytest.mark.parametrize("blocked_while_logged_in", [False, True])
def test_a_blocked_user_is_told_the_managers_reason(
    client, login, user, manager, blocked_while_logged_in
):
    if blocked_while_logged_in:
        login(user)
    block_user(user=user, by=manager, reason="Spam complaints")
    db.session.commit()

    if blocked_while_logged_in:
        told = client.get("/auth/profile", follow_redirects=True).text
    else:
        told = log_in(client).text

    assert "Your account has been blocked. The reason given: “Spam complaints”." in told


def test_session_cookie_is_httponly_and_samesite_lax(client, user):
    response = log_in(client)

    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_session_cookie_is_secure_outside_debug(test_environ):
    production = create_app(environ=test_environ)
    debug = create_app(environ={**test_environ, "FLASK_DEBUG": "1"})

    assert production.config["SESSION_COOKIE_SECURE"] is True
    assert production.config["REMEMBER_COOKIE_SECURE"] is True
    assert debug.config["SESSION_COOKIE_SECURE"] is False


@pytest.fixture
def csrf_app(test_environ, app):
    """A second app with CSRF on, as in production (the suite turns it off elsewhere)."""
    csrf_app = create_app(
        overrides={"TESTING": True, "SESSION_COOKIE_SECURE": False}, environ=test_environ
    )
    csrf_app.test_client_class = app.test_client_class
    return csrf_app


def test_post_without_csrf_token_is_refused(csrf_app, user):
    client = csrf_app.test_client()

    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 400
    assert b"The form expired" in response.data
    assert logged_in_id(client) is None


def test_post_with_the_form_csrf_token_is_accepted(csrf_app, user):
    client = csrf_app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]

    response = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )

    assert response.status_code == 302
    assert logged_in_id(client) == str(user.id)


def test_logout_without_csrf_token_is_refused(csrf_app, user):
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = factories.login_key(user)

    assert client.post("/auth/logout").status_code == 400
    assert logged_in_id(client) == str(user.id)


def test_log_out_everywhere_ends_every_other_session_and_remember_cookie(app, user):
    """As after a login the user does not recognise: a copied cookie ends too."""
    this_browser, other_browser = app.test_client(), app.test_client()
    log_in(this_browser)
    log_in(other_browser, remember="y")
    copied = app.test_client()  # the other browser's cookies, copied before
    for cookie in other_browser._cookies.values():
        copied.set_cookie(cookie.key, cookie.value)
    assert copied.get("/clients/").status_code == 200

    answer = this_browser.post("/auth/logout-everywhere", follow_redirects=True)

    assert "You are logged out on every other device and browser." in answer.text
    assert this_browser.get("/clients/").status_code == 200
    for stale in (other_browser, copied):
        assert stale.get("/clients/").location.startswith("/auth/login")
        with stale.session_transaction() as session:
            session.pop("_user_id", None)  # left with the remember cookie alone
        assert stale.get("/clients/").status_code == 302


def test_a_session_cookie_from_before_server_side_logins_logs_nobody_in(client, user):
    """After the upgrade that keeps logins on the server, everyone logs in once more."""
    with client.session_transaction() as session:
        session["_user_id"] = f"{user.id}:0123456789abcdef:0"  # "id:password stamp:generation"
        session["_fresh"] = True
    assert client.get("/clients/").location.startswith("/auth/login")


def test_a_remembered_login_lasts_thirty_days_and_a_session_cookie_fourteen(app, user):
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    browsers = app.test_client(), app.test_client()
    with time_machine.travel(start, tick=False):
        answer = log_in(browsers[0], remember="y")
        log_in(browsers[1])
    remember = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("remember"))
    assert "Expires=Tue, 31 Mar 2026 09:00:00 GMT" in remember
    for browser, days, status in ((browsers[0], 13, 200), (browsers[1], 15, 302)):
        browser.delete_cookie("remember_token")  # the session cookie alone
        with time_machine.travel(start + timedelta(days=days), tick=False):
            assert browser.get("/clients/").status_code == status, days


def test_trying_mailer_at_home_the_login_page_offers_the_demo_logins(app, client, monkeypatch):
    from mailer import demo

    monkeypatch.setitem(app.config, "DEBUG", True)
    demo.seed_demo()
    db.session.delete(User.by_email("writer@example.com"))  # gone: not offered
    db.session.commit()

    page = client.get("/auth/login").text

    offered = re.findall(r'data-demo-email="([^"]+)" data-demo-password="([^"]+)"', page)
    assert offered == [
        ("user@example.com", demo.DEMO_PASSWORD),
        ("manager@example.com", demo.DEMO_PASSWORD),
        ("admin@mailing.com", demo.SUPERUSER_DEMO_PASSWORD),
    ]
    assert '<div class="fw-semibold">Manager</div>' in page
    assert logged_in_id(client) is None
    log_in(client, "manager@example.com", demo.DEMO_PASSWORD)  # what the button sends
    assert logged_in_id(client) is not None


def test_outside_debug_mode_the_login_page_shows_no_demo_login(app, client):
    from mailer import demo

    demo.seed_demo()
    db.session.commit()

    page = client.get("/auth/login").text

    assert "Demo logins" not in page
    assert demo.DEMO_PASSWORD not in page
