"""Profile: name, phone, time zone, language, avatar, sender name and Reply-To; the language
switcher."""

from __future__ import annotations

import io

import pytest

from mailer.extensions import db
from mailer.models import User

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _avatars_in_tmp(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "AVATAR_UPLOAD_DIR", str(tmp_path / "avatars"))


def profile_data(**changes):
    data = {"full_name": "Ursula U.", "phone": "+7 (900) 123-45-67", "timezone": "Europe/Moscow"}
    return {"locale": "en", **data, **changes}


def test_profile_saves_name_phone_time_zone_and_language(client, login, user):
    login(user)

    response = client.post("/auth/profile", data=profile_data(locale="ru"))

    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.id)
    assert (saved.full_name, saved.phone, saved.timezone, saved.locale) == (
        "Ursula U.",
        "+7 (900) 123-45-67",
        "Europe/Moscow",
        "ru",
    )
    page = client.get("/auth/profile").text
    assert '<html lang="ru">' in page
    assert "Профиль сохранён." in page  # in the language just chosen, as the page


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "Factory"])
def test_unknown_time_zone_is_refused_and_the_form_keeps_the_input(client, login, user, zone):
    """localtime and Factory are in the tz database but no place's zone (and the dates'
    formatter knows neither: a user set to one got nothing but 500 pages)."""
    login(user)
    assert f'value="{zone}"' not in client.get("/auth/profile").text  # not offered

    response = client.post("/auth/profile", data=profile_data(timezone=zone))

    assert response.status_code == 200
    assert b"Not a valid choice" in response.data
    assert b'value="+7 (900) 123-45-67"' in response.data
    db.session.expire_all()
    assert db.session.get(User, user.id).timezone == "UTC"


def test_profile_saves_the_sender_name_and_where_replies_go_and_says_the_defaults(
    app, client, login, user, monkeypatch
):
    monkeypatch.setitem(app.config, "MAIL_DEFAULT_SENDER", "Mailer <news@mailer.example>")
    login(user)
    page = client.get("/auth/profile").text
    assert "beside the service&#39;s address, news@mailer.example. Empty: Mailer." in page
    assert "replies go to this address. Empty: to news@mailer.example." in page

    data = profile_data(sender_name="  Anna's   Bakery ", reply_to=" anna@bakery.example ")
    assert client.post("/auth/profile", data=data).status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.id)
    assert (saved.sender_name, saved.reply_to) == ("Anna's Bakery", "anna@bakery.example")

    emptied = profile_data(sender_name="", reply_to="")
    assert client.post("/auth/profile", data=emptied).status_code == 302
    db.session.expire_all()
    assert (saved.sender_name, saved.reply_to) == ("", "")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("sender_name", "Bank <security@bank.example>", "cannot contain an address"),
        ("sender_name", "x" * 101, "At most 100 characters"),
        ("reply_to", "anna@", "such as anna@example.com, Latin letters before @"),
        ("reply_to", "анна@bakery.example", "such as anna@example.com, Latin letters before @"),
    ],
)
def test_a_bad_sender_name_or_reply_address_is_refused_and_the_form_keeps_it(
    client, login, user, field, value, error
):
    login(user)
    response = client.post("/auth/profile", data=profile_data(**{field: value}))
    assert response.status_code == 200
    assert error in response.text
    assert f'value="{value}"'.replace("<", "&lt;").replace(">", "&gt;") in response.text
    db.session.expire_all()
    assert getattr(db.session.get(User, user.id), field) == ""


def test_bad_phone_is_refused(client, login, user):
    login(user)

    response = client.post("/auth/profile", data=profile_data(phone="call me maybe"))

    assert b"Digits, spaces" in response.data


def test_avatar_upload_is_stored_and_served_to_its_owner(client, login, user):
    login(user)

    client.post(
        "/auth/profile",
        data=profile_data(avatar_upload=(io.BytesIO(PNG), "me.png")),
        content_type="multipart/form-data",
    )

    db.session.expire_all()
    assert db.session.get(User, user.id).avatar.endswith(".png")
    served = client.get(f"/auth/avatar/{user.id}")
    assert served.status_code == 200
    assert served.data == PNG


def test_avatar_that_is_not_an_image_is_refused(client, login, user):
    login(user)

    response = client.post(
        "/auth/profile",
        data=profile_data(avatar_upload=(io.BytesIO(b"<script>alert(1)</script>"), "me.png")),
        content_type="multipart/form-data",
    )

    assert b"must be a PNG, JPEG or GIF" in response.data
    db.session.expire_all()
    assert db.session.get(User, user.id).avatar is None


def test_a_bad_avatar_is_refused_with_the_forms_other_errors_and_nothing_is_saved(
    client, login, user
):
    login(user)

    response = client.post(
        "/auth/profile",
        data=profile_data(
            timezone="Mars/Olympus",
            avatar_upload=(io.BytesIO(b"GIF? no"), "me.png"),
        ),
        content_type="multipart/form-data",
    )

    assert response.status_code == 200
    assert "Not a valid choice" in response.text
    assert "must be a PNG, JPEG or GIF" in response.text  # in the same answer
    db.session.expire_all()
    assert db.session.get(User, user.id).full_name != "Ursula U."  # nothing saved


def test_avatar_larger_than_two_megabytes_is_refused(client, login, user):
    login(user)
    big = PNG + b"\x00" * (2 * 1024 * 1024)

    response = client.post(
        "/auth/profile",
        data=profile_data(avatar_upload=(io.BytesIO(big), "big.png")),
        content_type="multipart/form-data",
    )

    assert b"larger than 2 MB" in response.data


def test_avatar_is_hidden_from_other_users_but_shown_to_managers(
    client, login, user, other_user, manager
):
    login(user)
    client.post(
        "/auth/profile",
        data=profile_data(avatar_upload=(io.BytesIO(PNG), "me.png")),
        content_type="multipart/form-data",
    )

    login(other_user)
    assert client.get(f"/auth/avatar/{user.id}").status_code == 404
    login(manager)
    assert client.get(f"/auth/avatar/{user.id}").status_code == 200


def test_language_switcher_keeps_the_choice_for_an_anonymous_visitor(client):
    response = client.post("/auth/language", data={"locale": "ru", "next": "/blog/"})

    assert response.location == "/blog/"
    assert b'<html lang="ru">' in client.get("/").data


def test_language_switcher_refuses_to_redirect_elsewhere(client):
    response = client.post("/auth/language", data={"locale": "en", "next": "https://evil.example"})

    assert response.location == "/"


def test_avatar_can_be_removed(client, login, user):
    login(user)
    client.post(
        "/auth/profile",
        data=profile_data(avatar_upload=(io.BytesIO(PNG), "me.png")),
        content_type="multipart/form-data",
    )
    assert b"Remove the current avatar" in client.get("/auth/profile").data

    client.post("/auth/profile", data=profile_data(remove_avatar="y"))

    db.session.expire_all()
    assert db.session.get(User, user.id).avatar is None
    assert client.get(f"/auth/avatar/{user.id}").status_code == 404
    assert b"Remove the current avatar" not in client.get("/auth/profile").data


def test_saving_the_profile_again_keeps_the_avatar(client, login, user):
    login(user)
    client.post(
        "/auth/profile",
        data=profile_data(avatar_upload=(io.BytesIO(PNG), "me.png")),
        content_type="multipart/form-data",
    )

    response = client.post("/auth/profile", data=profile_data(full_name="Renamed"))

    assert response.status_code == 302
    assert client.get(f"/auth/avatar/{user.id}").data == PNG
