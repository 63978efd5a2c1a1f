"""Registration, email confirmation and new confirmation links."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

import pytest
import time_machine

from mailer.extensions import db
from mailer.models import User
from tests import factories
from tests.test_auth.conftest import link_in

GOOD_PASSWORD = "violet-harbour-42"


def register(client, email="new@example.com", password=GOOD_PASSWORD, confirm=None, **extra):
    data = {"email": email, "password": password, "password_confirm": confirm or password, **extra}
    return client.post("/auth/register", data=data)


def test_registration_sends_a_confirmation_link_built_from_base_url(app, client, outbox):
    response = register(client, full_name="Nina New")

    assert response.status_code == 302
    user = User.by_email("new@example.com")
    assert user.full_name == "Nina New"
    assert not user.is_confirmed
    assert user.password_hash.startswith("scrypt:")
    [message] = outbox()
    assert message["To"] == "new@example.com"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"{app.config['BASE_URL']}/auth/confirm/" in text


def test_the_confirmation_and_a_second_registrations_note_name_nobody(client, outbox):
    """Whoever registers types the name, and the address may be anyone's: the emails that
    go there before it is proved must not carry the registrant's words."""
    bait = "Your account is suspended: verify your card at http://evil.example"
    register(client, email="victim@example.org", full_name=bait)
    register(client, email="victim@example.org", full_name=bait)  # the note of a taken one

    texts = [m.get_body(preferencelist=("plain",)).get_content() for m in outbox()]

    assert len(texts) == 2
    assert all(text.startswith("Hello,\r\n") for text in texts)
    assert not any("evil.example" in text for text in texts)


def test_confirmation_link_confirms_the_address_by_its_button(app, client, outbox):
    register(client)
    path = link_in(outbox()[0], app.config["BASE_URL"])

    page = client.get(path)
    assert page.status_code == 200
    assert not User.by_email("new@example.com").is_confirmed  # opening the link changes nothing
    assert client.post(path).status_code == 302

    db.session.expire_all()
    assert User.by_email("new@example.com").is_confirmed


def test_reopened_confirmation_link_says_the_address_is_already_confirmed(app, client, outbox):
    register(client)
    path = link_in(outbox()[0], app.config["BASE_URL"])
    client.post(path)

    reopened = client.get(path, follow_redirects=True)

    assert reopened.request.path == "/auth/login"
    assert "This link has already been used: your address is confirmed." in reopened.text
    assert "Confirm my email address" not in reopened.text


def test_an_expired_link_to_a_confirmed_address_says_it_is_confirmed(app, client, outbox):
    """Not the form for a new link: none would ever come for a confirmed address."""
    register(client)
    path = link_in(outbox()[0], app.config["BASE_URL"])
    client.post(path)

    with time_machine.travel(timedelta(days=4), tick=False):
        reopened = client.get(path, follow_redirects=True)

    assert reopened.request.path == "/auth/login"
    assert "This link has already been used: your address is confirmed." in reopened.text


def test_dead_confirmation_link_says_so_on_opening_and_offers_a_new_one(app, client, outbox):
    register(client)
    path = link_in(outbox()[0], app.config["BASE_URL"])

    with time_machine.travel(timedelta(days=4), tick=False):
        expired = client.get(path, follow_redirects=True)
    forged = client.get(path[:-3] + "xyz", follow_redirects=True)

    for opened in (expired, forged):
        assert opened.request.path == "/auth/confirm"  # the form that sends a new link
        assert "This link is invalid or has expired. Ask for a new one." in opened.text
        assert "Confirm my email address" not in opened.text


def test_unconfirmed_user_cannot_log_in_and_is_offered_a_new_link(app, client, outbox):
    register(client)
    response = client.post(
        "/auth/login", data={"email": "new@example.com", "password": GOOD_PASSWORD}
    )

    assert response.status_code == 200
    assert b"confirm your email address first" in response.data
    assert b"/auth/confirm?email=new@example.com" in response.data
    with client.session_transaction() as session:
        assert "_user_id" not in session

    client.post("/auth/confirm", data={"email": "new@example.com"})
    assert len(outbox()) == 2
    assert link_in(outbox()[1], app.config["BASE_URL"]).startswith("/auth/confirm/")


def test_email_is_unique_whatever_the_case_and_the_answer_does_not_tell(client, outbox, user):
    response = register(client, email="  USER@Example.COM ")
    fresh = register(client, email="fresh@example.com")

    assert response.status_code == fresh.status_code == 302
    assert response.location == fresh.location
    assert User.query.filter_by(email="user@example.com").count() == 1
    texts = [m.get_body(preferencelist=("plain",)).get_content() for m in outbox()]
    assert "already have one" in texts[0]  # the owner of the address learns of it, nobody else


def test_a_taken_address_costs_the_page_a_password_hash_as_a_new_one_does(
    client, user, monkeypatch
):
    """How long the answer takes tells nothing either: the hash is its cost."""
    from mailer.auth import services

    hashed = []
    real = services.generate_password_hash
    monkeypatch.setattr(
        services,
        "generate_password_hash",
        lambda password: hashed.append(password) or real(password),
    )

    register(client, email=user.email)
    register(client, email="fresh@example.com")

    assert hashed == [GOOD_PASSWORD, GOOD_PASSWORD]


def test_the_already_registered_note_links_to_log_in_and_to_reset(app, client, outbox, user):
    register(client, email=user.email)

    [note] = [m.get_body(preferencelist=("plain",)).get_content() for m in outbox()]
    base = app.config["BASE_URL"]
    assert f"{base}/auth/login" in note
    assert f"{base}/auth/reset" in note
    assert client.get("/auth/login").status_code == client.get("/auth/reset").status_code == 200


def test_registered_email_is_stored_lower_case(client):
    register(client, email="Mixed.Case@Example.com")

    assert User.query.one().email == "mixed.case@example.com"


@pytest.mark.parametrize(
    "look_alike",
    ["Taken@ｅxample.com", "TAKEN@EXAMPLE.COM"],  # a full-width ｅ: the same mailbox
)
def test_an_address_written_another_way_is_the_same_account(client, outbox, look_alike):
    register(client, email="taken@example.com")

    register(client, email=look_alike)

    assert [user.email for user in User.query.all()] == ["taken@example.com"]
    assert len(outbox()) == 2  # the link, then the note that the address has an account


def test_one_letter_written_as_two_is_the_same_address(client):
    """ "й" typed as "и" and a combining breve (NFD), as some keyboards and files give it."""
    register(client, email="dup@йод.рф")
    register(client, email=unicodedata.normalize("NFD", "dup@йод.рф"))

    assert [user.email for user in User.query.all()] == ["dup@йод.рф"]


def test_an_account_kept_as_typed_before_addresses_were_mapped_still_logs_in(client):
    legacy = factories.make_user("legacy@example.com")
    db.session.execute(db.update(User).filter_by(id=legacy.id).values(email="legacy@ｅxample.com"))
    db.session.commit()

    response = client.post(
        "/auth/login", data={"email": "legacy@ｅxample.com", "password": factories.PASSWORD}
    )

    assert response.status_code == 302
    assert User.by_email("LEGACY@ｅxample.com").id == legacy.id


def test_short_password_is_refused_and_the_form_keeps_the_email(client):
    response = register(client, email="keep@example.com", password="short-1")

    assert response.status_code == 200
    assert b"at least 10 characters" in response.data
    assert b'value="keep@example.com"' in response.data
    assert User.query.count() == 0


def test_too_long_a_password_is_refused_saying_the_most_it_may_be(client):
    """It was told it must be "at least 10 characters"."""
    response = register(client, email="keep@example.com", password="Long-enough" * 19)

    assert "The password may be at most 200 characters long." in response.text
    assert "at least 10 characters" not in response.text.split('id="password-help"')[0]
    assert User.query.count() == 0


def test_a_screen_reader_hears_each_error_with_its_field(client):
    """aria-invalid, and aria-describedby naming the error before the help."""
    page = register(client, email="not-an-address", password="short-1").text

    password = re.search(r'<input[^>]*name="password"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in password
    assert 'aria-describedby="password-error password-help"' in password
    assert re.search(r'id="password-error"><div>[^<]*at least 10 characters', page)
    email = re.search(r'<input[^>]*name="email"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in email
    assert 'id="email-error"' in page
    confirm = re.search(r'<input[^>]*name="password_confirm"[^>]*>', page)
    assert confirm is None or "aria-invalid" not in confirm.group(0)  # no error of its own


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("Europe/Samara", "Europe/Samara"),
        ("europe/samara", "Europe/Samara"),
        ("Mars/Olympus", "UTC"),
        ("", "UTC"),
    ],
)
def test_the_account_starts_in_the_browsers_time_zone_when_it_is_known(client, sent, kept):
    register(client, timezone=sent)
    assert User.query.one().timezone == kept  # else DEFAULT_TIMEZONE


def test_common_password_is_refused(client):
    response = register(client, password="Password123")

    assert b"too common" in response.data
    assert User.query.count() == 0


def test_mismatched_password_confirmation_is_refused(client):
    response = register(client, confirm="violet-harbour-43")

    assert b"do not match" in response.data
    assert User.query.count() == 0


def test_expired_confirmation_link_is_refused(app, client, outbox):
    register(client)
    path = link_in(outbox()[0], app.config["BASE_URL"])

    with time_machine.travel(timedelta(days=4), tick=False):
        response = client.post(path)

    assert response.location.endswith("/auth/confirm")
    db.session.expire_all()
    assert not User.by_email("new@example.com").is_confirmed


def test_tampered_confirmation_link_is_refused(app, client, outbox):
    register(client)
    path = link_in(outbox()[0], app.config["BASE_URL"])

    client.post(path[:-3] + "xyz")

    assert not User.by_email("new@example.com").is_confirmed


def test_new_link_for_unknown_or_confirmed_address_sends_nothing_and_says_the_same(
    client, outbox, user
):
    unknown = client.post("/auth/confirm", data={"email": "nobody@example.com"})
    confirmed = client.post("/auth/confirm", data={"email": user.email})

    assert unknown.location == confirmed.location
    assert outbox() == []


def test_logged_in_user_is_sent_home_from_register_page(client, login, user):
    login(user)

    assert client.get("/auth/register").location == "/"


def test_reset_link_cannot_confirm_an_address(app, client, outbox):
    unconfirmed = factories.make_user("late@example.com", confirmed=False)
    client.post("/auth/reset", data={"email": unconfirmed.email})
    reset_path = link_in(outbox()[0], app.config["BASE_URL"])
    token = reset_path.rsplit("/", 1)[1]

    client.post(f"/auth/confirm/{token}")

    db.session.expire_all()
    assert not User.by_email("late@example.com").is_confirmed


@pytest.mark.parametrize("debug", [True, False], ids=["trying it at home", "production"])
def test_without_a_mail_server_the_page_says_where_the_email_went(app, client, debug):
    """make run with nothing configured: the confirmation link is in a file, not a mailbox."""
    app.config["DEBUG"] = debug
    try:
        register(client)
        page = client.get("/auth/login").text
    finally:
        app.config["DEBUG"] = False
    folder = app.config["MAIL_OUTBOX"]
    said = f"No mail server is set up: emails are written as files to {folder}."
    assert (said in page) is debug
