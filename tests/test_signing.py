"""A new SECRET_KEY with the old one in SECRET_KEY_FALLBACKS: what the old key signed
keeps working (logins, links in emails already sent); without it, it stops."""

from __future__ import annotations

import re

import pytest
from itsdangerous import URLSafeSerializer

from mailer.delivery.unsubscribe import LEGACY_SALT, unsubscribe_token
from mailer.extensions import db
from mailer.models import Client
from tests import factories

KEPT = pytest.mark.parametrize("keep_old", [True, False], ids=["old key kept", "old key dropped"])


@KEPT
def test_a_login_outlives_a_new_key_while_the_old_one_is_kept(
    client, login, user, rotate_secret_key, keep_old
):
    login(user)
    assert client.get("/clients/").status_code == 200

    rotate_secret_key(keep_old=keep_old)

    response = client.get("/clients/")
    if keep_old:
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response.location.startswith("/auth/login")


@KEPT
@pytest.mark.parametrize("made", ["signed with the address", "legacy"])
def test_an_unsubscribe_link_sent_under_the_old_key(
    app, client, user, rotate_secret_key, keep_old, made
):
    ann = factories.make_client(user, "ann@example.com")
    if made == "legacy":
        token = URLSafeSerializer(app.config["SECRET_KEY"], salt=LEGACY_SALT).dumps(ann.id)
    else:
        token = unsubscribe_token(ann.id, ann.email)

    rotate_secret_key(keep_old=keep_old)

    opened = client.get(f"/u/{token}")
    confirmed = client.post(f"/u/{token}")
    db.session.expire_all()
    unsubscribed = db.session.get(Client, ann.id).unsubscribed_at is not None
    if keep_old:
        assert (opened.status_code, confirmed.status_code) == (200, 303)
        assert "ann@example.com" in opened.text
        assert unsubscribed
    else:
        assert (opened.status_code, confirmed.status_code) == (404, 404)
        assert not unsubscribed


def test_a_new_link_is_signed_with_the_new_key(app, client, user, rotate_secret_key, monkeypatch):
    """So it keeps working once the old key is dropped."""
    ann = factories.make_client(user, "ann@example.com")
    rotate_secret_key(keep_old=True)
    token = unsubscribe_token(ann.id, ann.email)
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
    assert client.get(f"/u/{token}").status_code == 200


def test_a_form_open_at_the_change_says_it_expired_and_the_next_one_goes_through(
    app, client, login, user, rotate_secret_key, monkeypatch
):
    """Flask-WTF checks its forms with SECRET_KEY alone: the README says so."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    login(user)

    def form_token() -> str:
        page = client.get("/clients/new").text
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    opened_before = form_token()
    rotate_secret_key(keep_old=True)
    ann = {"email": "ann@example.com", "full_name": "Ann"}

    refused = client.post("/clients/new", data={**ann, "csrf_token": opened_before})
    assert refused.status_code == 400
    assert "The form expired" in refused.text

    sent = client.post("/clients/new", data={**ann, "csrf_token": form_token()})
    assert sent.status_code == 302
    assert db.session.scalar(db.select(Client.email)) == "ann@example.com"


@KEPT
def test_a_remembered_login_outlives_a_new_key_while_the_old_one_is_kept(
    app, user, rotate_secret_key, keep_old, monkeypatch
):
    browser = app.test_client()
    browser.post(
        "/auth/login",
        data={"email": user.email, "password": factories.PASSWORD, "remember": "y"},
    )
    signed_with_old_key = browser.get_cookie("remember_token").value
    browser.delete_cookie("session")  # the browser was closed: the remember cookie alone

    rotate_secret_key(keep_old=keep_old)
    response = browser.get("/clients/")

    if not keep_old:
        assert response.location.startswith("/auth/login")
        return
    assert response.status_code == 200
    signed_again = browser.get_cookie("remember_token").value
    assert signed_again != signed_with_old_key
    assert signed_again.split("|")[0] == signed_with_old_key.split("|")[0]  # the same login
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])  # the old key dropped later:
    browser.delete_cookie("session")
    assert browser.get("/clients/").status_code == 200  # the cookie is the new key's now
