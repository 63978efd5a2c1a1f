"""Password reset by emailed link and password change when logged in."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import time_machine

from mailer.auth.passwords import check_password_hash
from mailer.extensions import db
from mailer.models import User
from tests import factories
from tests.test_auth.conftest import link_in

NEW_PASSWORD = "lantern-meadow-77"


def test_reset_link_sets_a_new_password(app, client, outbox, user):
    client.post("/auth/reset", data={"email": "User@Example.com"})
    path = link_in(outbox()[0], app.config["BASE_URL"])

    assert client.get(path).status_code == 200
    response = client.post(path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    assert response.location == "/auth/login"
    login = client.post("/auth/login", data={"email": user.email, "password": NEW_PASSWORD})
    assert login.status_code == 302


def _without_tokens(page: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', page)


def test_a_blocked_user_who_asks_for_a_reset_is_told_the_account_is_blocked_not_invited(
    app, client, outbox, user
):
    user.is_blocked = True
    db.session.commit()
    stranger = client.post(
        "/auth/reset", data={"email": "nobody@example.com"}, follow_redirects=True
    )
    asked = client.post("/auth/reset", data={"email": user.email}, follow_redirects=True)

    # The page tells nobody who has an account (its CSRF tokens aside: they carry the time).
    assert _without_tokens(asked.text) == _without_tokens(stranger.text)
    [email] = outbox()
    assert email["Subject"] == "Your password was not reset"
    body = email.get_content()
    assert "Your account is blocked, so a new password would not let you log in" in body
    assert app.config["BASE_URL"] not in body  # no link to choose one


def test_a_reset_link_sent_before_the_account_was_blocked_says_so_when_opened(
    app, client, outbox, user
):
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])
    user.is_blocked = True
    db.session.commit()

    opened = client.get(path, follow_redirects=True).text
    assert "Your account is blocked, so you cannot log in. Contact a manager." in opened
    assert 'name="password_confirm"' not in opened  # no form for a new password

    page = client.post(
        path,
        data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        follow_redirects=True,
    ).text  # a form opened before the block
    assert "your account is blocked, so you cannot log in. Contact a manager." in page
    assert "Log in with the new one" not in page


def test_reset_link_works_only_once(app, client, outbox, user):
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])
    client.post(path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    again = client.post(
        path, data={"password": "another-pass-99", "password_confirm": "another-pass-99"}
    )

    assert again.location == "/auth/login"  # with the new password, set by the first use
    db.session.expire_all()
    assert check_password_hash(db.session.get(User, user.id).password_hash, NEW_PASSWORD)


def test_a_used_reset_link_says_it_was_used_and_leads_to_the_login(app, client, outbox, user):
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])
    client.post(path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    opened = client.get(path, follow_redirects=True)

    assert opened.request.path == "/auth/login"
    assert "the account&#39;s password or address has changed since it was sent" in opened.text
    assert "invalid or has expired" not in opened.text
    assert "Choose a new password" not in opened.text


def test_a_reset_link_mailed_to_an_old_address_dies_with_it(app, client, outbox, user):
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])
    user.email = "moved@example.com"  # the owner moved away from the mailbox it went to
    db.session.commit()

    used = client.post(path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    assert used.location == "/auth/login"
    db.session.expire_all()
    assert check_password_hash(db.session.get(User, user.id).password_hash, factories.PASSWORD)


@pytest.mark.parametrize("dead", ["expired", "forged"])
def test_dead_reset_link_says_so_on_opening_and_offers_a_new_one(app, client, outbox, user, dead):
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])
    if dead == "forged":
        path = path[:-3] + "xyz"
    later = timedelta(hours=3) if dead == "expired" else timedelta(0)

    with time_machine.travel(later, tick=False):
        opened = client.get(path, follow_redirects=True)

    assert opened.request.path == "/auth/reset"  # the form that sends a new link
    assert "This link is invalid or has expired. Ask for a new one." in opened.text
    assert "Choose a new password" not in opened.text


@pytest.mark.parametrize("keep_old", [True, False], ids=["old key kept", "old key dropped"])
def test_a_reset_link_sent_before_the_secret_key_changed(
    app, client, outbox, user, rotate_secret_key, keep_old
):
    """It works while the old key is in SECRET_KEY_FALLBACKS."""
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])

    rotate_secret_key(keep_old=keep_old)

    opened = client.get(path, follow_redirects=True)
    if keep_old:
        assert "Choose a new password" in opened.text
    else:
        assert "This link is invalid or has expired. Ask for a new one." in opened.text


def test_a_reset_link_sent_after_the_secret_key_changed_is_signed_with_the_new_one(
    app, client, outbox, user, rotate_secret_key, monkeypatch
):
    """So it keeps working once the old key is dropped from SECRET_KEY_FALLBACKS."""
    rotate_secret_key(keep_old=True)
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])

    assert "Choose a new password" in client.get(path, follow_redirects=True).text


def test_reset_answers_the_same_for_unknown_addresses_and_sends_nothing(client, outbox, user):
    known = client.post("/auth/reset", data={"email": user.email}, follow_redirects=True)
    unknown = client.post(
        "/auth/reset", data={"email": "nobody@example.com"}, follow_redirects=True
    )

    assert len(outbox()) == 1
    assert b"If that address has an account" in known.data
    assert b"If that address has an account" in unknown.data


@pytest.mark.parametrize(
    ("path", "asked"),
    [("/auth/reset", "user@example.com"), ("/auth/confirm", "new@example.com")],
    ids=["reset", "new confirmation link"],
)
def test_the_page_answers_before_its_email_goes_out(
    app, client, outbox, user, monkeypatch, path, asked
):
    """Only an address with an account gets an email: were it sent before the answer, the
    answer's time would tell who has one."""
    from mailer.auth import services

    if asked == "new@example.com":
        factories.make_user(asked, confirmed=False)
    monkeypatch.setattr(services, "AFTER_THE_ANSWER_WHEN_TESTING", True)
    release, done = threading.Event(), threading.Event()
    real_send = services.send_email

    def held_back_send(**email):
        release.wait(10)  # the mail server, slow to answer
        real_send(**email)
        done.set()

    monkeypatch.setattr(services, "send_email", held_back_send)

    answer = client.post(path, data={"email": asked})
    sent_before_the_answer = len(outbox())
    release.set()

    assert answer.status_code in (200, 302)
    assert sent_before_the_answer == 0
    assert done.wait(10)
    assert len(outbox()) == 1


def test_asking_again_and_again_sends_one_address_only_so_many_emails_an_hour(
    app, client, outbox, user, caplog
):
    limit = app.config["ACCOUNT_MAILS_PER_HOUR"]
    answers = [
        client.post("/auth/reset", data={"email": user.email}, follow_redirects=True)
        for _ in range(limit + 2)
    ]

    assert len(outbox()) == limit
    assert all(b"If that address has an account" in answer.data for answer in answers)
    assert "its hourly limit is reached" in caplog.text
    other = factories.make_user("other@example.com")
    client.post("/auth/reset", data={"email": other.email})
    assert len(outbox()) == limit + 1  # another address is not held back


def test_one_ip_asking_for_many_addresses_is_stopped_and_told_so(app, client, outbox, monkeypatch):
    monkeypatch.setitem(app.config, "ACCOUNT_MAIL_REQUESTS_PER_IP", 3)
    users = [factories.make_user(f"user{n}@example.com") for n in range(4)]

    answers = [client.post("/auth/reset", data={"email": user.email}) for user in users]

    assert [answer.status_code for answer in answers] == [302, 302, 302, 429]
    assert len(outbox()) == 3
    refused = answers[-1].text
    assert "Too many emails were asked for from your network" in refused
    assert f'value="{users[-1].email}"' in refused  # the form keeps what was typed
    elsewhere = {"REMOTE_ADDR": "203.0.113.9"}
    answer = client.post("/auth/reset", data={"email": users[-1].email}, environ_base=elsewhere)
    assert answer.status_code == 302
    assert len(outbox()) == 4  # another network is not held back


@pytest.mark.parametrize("page", ["/auth/register", "/auth/confirm"])
def test_the_other_pages_that_send_account_mail_count_asks_from_one_ip_too(
    app, client, outbox, monkeypatch, page
):
    monkeypatch.setitem(app.config, "ACCOUNT_MAIL_REQUESTS_PER_IP", 1)
    client.post("/auth/reset", data={"email": "nobody@example.com"})  # counted, though unsent
    fields = {"email": "new@example.com", "full_name": "New", "password": factories.PASSWORD}
    fields["password_confirm"] = factories.PASSWORD

    answer = client.post(page, data=fields)

    assert answer.status_code == 429
    assert "Too many emails were asked for from your network" in answer.text
    assert outbox() == []
    assert User.by_email("new@example.com") is None


def test_reset_refuses_a_common_password(app, client, outbox, user):
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])

    response = client.post(
        path, data={"password": "qwerty123456", "password_confirm": "qwerty123456"}
    )

    assert b"too common" in response.data
    db.session.expire_all()
    assert check_password_hash(db.session.get(User, user.id).password_hash, factories.PASSWORD)


def test_change_password_needs_the_current_one(client, login, user):
    login(user)

    wrong = client.post(
        "/auth/password",
        data={
            "current_password": "guess",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    right = client.post(
        "/auth/password",
        data={
            "current_password": factories.PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )

    assert b"This is not your current password." in wrong.data
    assert right.status_code == 302
    db.session.expire_all()
    assert check_password_hash(db.session.get(User, user.id).password_hash, NEW_PASSWORD)


def test_change_password_says_a_wrong_current_password_with_the_other_mistakes(client, login, user):
    login(user)

    answer = client.post(
        "/auth/password",
        data={
            "current_password": "guess",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD + "x",
        },
    )

    assert "This is not your current password." in answer.text
    assert "The passwords do not match." in answer.text  # both at once, not one per try


def test_change_password_refuses_the_current_one_as_the_new_one(client, login, user):
    login(user)
    same, hash_before = factories.PASSWORD, user.password_hash

    answer = client.post(
        "/auth/password",
        data={"current_password": same, "password": same, "password_confirm": same},
    )

    assert answer.status_code == 200
    assert "This is your current password: choose a new one." in answer.text
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == hash_before  # not even re-salted


def test_change_password_needs_login(client):
    response = client.get("/auth/password")

    assert response.status_code == 302
    assert response.location.startswith("/auth/login")


def test_a_new_password_logs_out_the_other_sessions_but_not_this_one(app, user):
    this_browser, other_browser = app.test_client(), app.test_client()
    for browser in (this_browser, other_browser):
        browser.post("/auth/login", data={"email": user.email, "password": factories.PASSWORD})
    assert other_browser.get("/clients/").status_code == 200

    this_browser.post(
        "/auth/password",
        data={
            "current_password": factories.PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )

    assert this_browser.get("/clients/").status_code == 200
    stale = other_browser.get("/clients/")
    assert stale.status_code == 302
    assert stale.location.startswith("/auth/login")


def test_a_password_reset_logs_out_every_session(app, client, outbox, user):
    logged_in = app.test_client()
    logged_in.post("/auth/login", data={"email": user.email, "password": factories.PASSWORD})
    client.post("/auth/reset", data={"email": user.email})
    path = link_in(outbox()[0], app.config["BASE_URL"])

    client.post(path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    assert logged_in.get("/clients/").status_code == 302
