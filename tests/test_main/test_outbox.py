"""Trying mailer at home (debug mode, no mail server): the outbox page reads back every email
written there instead of being sent; outside debug mode it does not exist."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from mailer.main import outbox_routes


@pytest.fixture
def debug(app, monkeypatch):
    monkeypatch.setitem(app.config, "DEBUG", True)


def _register(client, email: str):
    data = {
        "email": email,
        "password": "violet-harbour-42",
        "password_confirm": "violet-harbour-42",
    }
    return client.post("/auth/register", data=data)


def test_registering_the_confirmation_link_is_a_click_away_in_the_outbox(app, client, debug):
    _register(client, "nina@example.com")

    flashed = client.get("/auth/login").text
    assert '<a href="/outbox/" class="alert-link">Open the outbox</a>' in flashed
    assert '<a href="/outbox/">Outbox</a>' in flashed  # the footer links it on every page
    listed = client.get("/outbox/").text
    [link] = re.findall(r'<a href="(/outbox/[^"]+\.eml)">', listed)
    assert "nina@example.com" in listed
    email = html.unescape(client.get(link).text)
    assert "An email in the outbox" in email
    base = re.escape(app.config["BASE_URL"])
    confirm = re.search(base + r"(/auth/confirm/[^\s<\"]+)", email)[1]
    assert client.get(confirm).status_code == 200  # the page with the Confirm button


def test_the_outbox_lists_the_newest_emails_first_and_counts_the_older(
    app, client, debug, monkeypatch
):
    """Its files are named by the time they were written."""
    monkeypatch.setattr(outbox_routes, "LISTED", 2)
    folder = Path(app.config["MAIL_OUTBOX"])
    for number, subject in enumerate(("First", "Second", "Third")):
        (folder / f"20261207-00000{number}-olga@example.com-0000000{number}.eml").write_bytes(
            f"To: olga@example.com\r\nSubject: {subject}\r\n\r\nHello\r\n".encode()
        )

    page = client.get("/outbox/").text

    assert re.findall(r'\.eml">([^<]+)</a>', page) == ["Third", "Second"]
    assert "And 1 older email in the folder." in page


def test_outside_debug_mode_there_is_no_outbox_page(app, client):
    _register(client, "nina@example.com")
    [written] = Path(app.config["MAIL_OUTBOX"]).glob("*.eml")

    page = client.get("/auth/login").text
    assert "Open the outbox" not in page
    assert 'href="/outbox/"' not in page
    assert client.get("/outbox/").status_code == 404
    assert client.get(f"/outbox/{written.name}").status_code == 404


def test_only_an_email_file_in_the_outbox_opens(app, client, debug):
    secret = Path(app.config["MAIL_OUTBOX"]).parent / "secret.eml"
    secret.write_bytes(b"Subject: secret\r\n\r\nnot an email of mailer's\r\n")

    assert client.get("/outbox/..%2Fsecret.eml").status_code == 404
    assert client.get("/outbox/gone.eml").status_code == 404
    assert client.get("/outbox/notes.txt").status_code == 404
