"""A user changes their login address: a link to the new address, a note to the old one,
and the change once the link is opened."""

from __future__ import annotations

import html
import logging
from datetime import timedelta

import pytest
import time_machine
from werkzeug.security import generate_password_hash

from mailer.extensions import db
from mailer.models import User
from tests import factories
from tests.test_auth.conftest import link_in

NEW = "new.address@example.com"


def _ask(client, email=NEW, password=factories.PASSWORD):
    return client.post("/auth/change-email", data={"email": email, "current_password": password})


def _to(outbox, address: str) -> list:
    return [message for message in outbox() if message["To"] == address]


def _address(user_id: int) -> str:
    db.session.expire_all()
    return db.session.get(User, user_id).email


def test_the_link_sent_to_the_new_address_changes_the_login_once_its_button_is_pressed(
    app, client, login, user, outbox, caplog
):
    login(user)

    asked = _ask(client, email="  New.Address@Example.com ")

    assert asked.location == "/auth/profile"
    page = html.unescape(client.get("/auth/profile").text)
    assert f"We sent a link to {NEW}. Your address changes once you open it." in page
    [link_email] = _to(outbox, NEW)
    assert link_email["Subject"] == "Confirm your new email address"
    [note] = _to(outbox, "user@example.com")
    assert NEW in note.get_content()
    assert "change your password" in note.get_content()
    assert _address(user.id) == "user@example.com"  # nothing changes before the link

    path = link_in(link_email, app.config["BASE_URL"])
    opened = html.unescape(client.get(path).text)
    assert f"Log in with {NEW} instead of user@example.com from now on?" in opened
    assert _address(user.id) == "user@example.com"  # opening the page changes nothing

    with caplog.at_level(logging.INFO, logger="mailer.auth.routes"):
        changed = client.post(path)

    assert changed.location == "/auth/profile"
    assert f"Your address is now {NEW}." in html.unescape(client.get("/auth/profile").text)
    assert _address(user.id) == NEW
    assert f"user {user.id} changed their login address" in caplog.text
    assert NEW not in caplog.text
    logged_in = client.post("/auth/logout")
    assert logged_in.status_code == 302
    assert (
        client.post("/auth/login", data={"email": NEW, "password": factories.PASSWORD}).status_code
        == 302
    )
    again = html.unescape(client.post(path, follow_redirects=True).text)
    assert "This link no longer works: the address or the password has changed" in again
    assert _address(user.id) == NEW


def test_the_link_pressed_by_someone_logged_out_ends_on_the_login_page_with_the_new_address(
    app, client, login, user, outbox
):
    login(user)
    _ask(client, email=NEW)
    path = link_in(_to(outbox, NEW)[0], app.config["BASE_URL"])
    client.post("/auth/logout")

    changed = client.post(path, follow_redirects=True)

    assert changed.request.path == "/auth/login"
    shown = html.unescape(changed.text)
    assert f"Your address is now {NEW}. Log in with it." in shown
    assert "Please log in to open this page." not in shown  # no page asked for a login
    assert _address(user.id) == NEW
    used = html.unescape(client.get(path, follow_redirects=True).text)
    assert "This link no longer works" in used
    assert "Please log in to open this page." not in used


def test_the_link_pressed_where_another_account_is_logged_in_does_not_say_it_is_theirs(
    app, client, login, user, other_user, outbox
):
    login(user)
    _ask(client, email=NEW)
    path = link_in(_to(outbox, NEW)[0], app.config["BASE_URL"])
    client.post("/auth/logout")
    login(other_user)

    changed = html.unescape(client.post(path, follow_redirects=True).text)

    assert f"The account's address is now {NEW}. To use it, log out and log in with it." in changed
    assert "Your address is now" not in changed
    assert (_address(user.id), _address(other_user.id)) == (NEW, "other@example.com")


def test_a_new_password_ends_a_pending_address_change(app, client, login, user, outbox):
    login(user)
    _ask(client)
    path = link_in(_to(outbox, NEW)[0], app.config["BASE_URL"])
    user.password_hash = generate_password_hash("a-new-password-42")
    db.session.commit()

    client.post(path, follow_redirects=True)

    assert _address(user.id) == "user@example.com"


def test_a_newer_ask_kills_the_link_of_an_earlier_one(app, client, login, user, outbox):
    """A typo in the first ask, corrected by a second: whoever owns the mistyped address
    could still press the first link for its day, take the login, then the account."""
    login(user)
    _ask(client, email="typo.stranger@example.net")
    first = link_in(_to(outbox, "typo.stranger@example.net")[0], app.config["BASE_URL"])
    _ask(client, email=NEW)
    second = link_in(_to(outbox, NEW)[0], app.config["BASE_URL"])
    client.post("/auth/logout")

    pressed = html.unescape(client.post(first, follow_redirects=True).text)

    assert "This link no longer works" in pressed
    assert _address(user.id) == "user@example.com"
    client.post(second)
    assert _address(user.id) == NEW


def test_the_link_names_nobody_the_new_address_has_not_met(app, client, login, user, outbox):
    """The name is the account's to type: in mail to an address nobody proved, it would be a
    stranger's words sent by mailer ("Your account is suspended, verify at …")."""
    user.full_name = "Your account is suspended: verify your card at http://evil.example"
    db.session.commit()
    login(user)

    _ask(client, email=NEW)

    [link_email] = _to(outbox, NEW)
    assert link_email.get_content().startswith("Hello,\r\n")
    assert "evil.example" not in link_email.get_content()
    [note] = _to(outbox, "user@example.com")  # the account's own, proved address
    assert note.get_content().startswith(f"Hello {user.full_name},")


def test_a_wrong_password_or_the_same_address_sends_nothing(client, login, user, outbox):
    login(user)

    wrong = _ask(client, password="not-it")
    same = _ask(client, email="User@Example.com")

    assert "This is not your current password." in html.unescape(wrong.text)
    assert "This is already your address." in html.unescape(same.text)
    assert f'value="{NEW}"' in wrong.text  # the form keeps what was typed
    assert outbox() == []


def test_an_address_another_account_has_gets_a_note_of_what_was_asked_and_changes_nothing(
    client, login, user, other_user, outbox
):
    login(user)

    asked = _ask(client, email=other_user.email)

    assert asked.location == "/auth/profile"  # the same answer as for a free address
    note, changing = sorted(outbox(), key=lambda message: message["To"] != other_user.email)
    assert note["To"] == other_user.email
    # The asker's own inbox gets what it gets for a free address: else it would tell.
    assert (changing["To"], changing["Subject"]) == (user.email, "Your Mailer address is changing")
    said = " ".join(note.get_content().split())
    assert (
        "Someone asked to log in to another Mailer account with this address, but it is"
        " already yours: nothing was changed."
    ) in said
    assert "register" not in said  # nobody tried to register
    assert _address(user.id) == "user@example.com"


def test_an_address_taken_between_the_link_and_the_button_is_refused(
    app, client, login, user, outbox
):
    login(user)
    _ask(client)
    path = link_in(_to(outbox, NEW)[0], app.config["BASE_URL"])
    factories.make_user(NEW)

    response = client.post(path, follow_redirects=True)

    assert "Another account has this address by now." in html.unescape(response.text)
    assert _address(user.id) == "user@example.com"


@pytest.mark.parametrize("dead", ["expired", "forged"])
def test_a_dead_link_says_so(app, client, login, user, outbox, dead):
    login(user)
    _ask(client)
    path = link_in(_to(outbox, NEW)[0], app.config["BASE_URL"])
    if dead == "forged":
        path = path[:-3] + "xyz"
    later = timedelta(hours=25) if dead == "expired" else timedelta(0)

    with time_machine.travel(later, tick=False):
        response = client.post(path, follow_redirects=True)

    assert "This link is invalid or has expired. Ask for a new one." in html.unescape(response.text)
    assert _address(user.id) == "user@example.com"


def test_asking_again_and_again_floods_no_inbox(app, client, login, user, outbox, monkeypatch):
    monkeypatch.setitem(app.config, "ACCOUNT_MAILS_PER_HOUR", 2)
    login(user)
    for _ in range(3):
        _ask(client)
    assert len(_to(outbox, NEW)) == 2


def test_an_address_taken_in_the_instant_before_the_change_is_refused_by_the_database(
    app, client, login, user, outbox, monkeypatch
):
    """The check and the change are two statements: another account may take the address
    in between (here, it is in the table before the check looks, which then looks away)."""
    login(user)
    _ask(client)
    path = link_in(_to(outbox, NEW)[0], app.config["BASE_URL"])
    factories.make_user(NEW)
    monkeypatch.setattr(User, "by_email", classmethod(lambda cls, email: None))

    response = client.post(path, follow_redirects=True)

    assert "Another account has this address by now." in html.unescape(response.text)
    assert _address(user.id) == "user@example.com"
