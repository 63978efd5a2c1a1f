"""A user deletes their own account, with everything in it, once they type their password."""

from __future__ import annotations

import html
import logging

from mailer.auth.services import avatar_folder
from mailer.extensions import db
from mailer.models import Article, Attempt, Client, Mailing, Message, User, UserSession
from tests import factories


def _page(response) -> str:
    return html.unescape(response.text)


def _owned_by(model, user_id: int) -> int:
    return db.session.scalar(
        db.select(db.func.count()).select_from(model).where(model.owner_id == user_id)
    )


def test_the_page_says_what_goes_with_the_account_and_what_stays(client, login, user):
    ann, bob = (factories.make_client(user, f"{n}@example.com") for n in ("ann", "bob"))
    run = factories.make_run(factories.make_mailing(user, clients=[ann, bob]))
    factories.make_attempt(run, ann)
    factories.make_article("Mine", author=user)
    login(user)

    page = _page(client.get("/auth/delete-account"))

    for said in (
        "Clients: 2",
        "Messages: 1",
        "Mailings, with their runs: 1",
        "Attempts in the log: 1",
        "The 1 article you wrote stays on the blog, without an author.",
    ):
        assert said in page
    assert 'name="password"' in page
    assert "/auth/delete-account" in _page(client.get("/auth/profile"))  # the way there


def test_a_wrong_password_deletes_nothing_and_says_so(client, login, user):
    factories.make_client(user, "ann@example.com")
    login(user)

    response = client.post("/auth/delete-account", data={"password": "not-it"})

    assert response.status_code == 200
    assert "This is not your current password." in _page(response)
    assert db.session.get(User, user.id) is not None
    assert _owned_by(Client, user.id) == 1
    assert client.get("/clients/").status_code == 200  # still logged in


def test_the_password_deletes_the_account_its_data_and_its_logins_and_nobody_elses(
    app, client, login, user, other_user, caplog
):
    ann = factories.make_client(user, "ann@example.com")
    factories.make_attempt(factories.make_run(factories.make_mailing(user, clients=[ann])), ann)
    theirs = factories.make_client(other_user, "theirs@example.com")
    factories.make_attempt(
        factories.make_run(factories.make_mailing(other_user, clients=[theirs])), theirs
    )
    article_id = factories.make_article("Mine", author=user).id
    avatar = avatar_folder() / f"{user.id}-picture.png"
    avatar.parent.mkdir(parents=True, exist_ok=True)
    avatar.write_bytes(b"\x89PNG picture")
    user.avatar = avatar.name
    db.session.commit()
    user_id = user.id
    elsewhere = app.test_client()  # the same user in another browser
    with elsewhere.session_transaction() as session:
        session["_user_id"] = factories.login_key(user, user_agent="another browser")
    login(user)

    with caplog.at_level(logging.INFO, logger="mailer.auth.routes"):
        response = client.post(
            "/auth/delete-account", data={"password": factories.PASSWORD}, follow_redirects=True
        )

    assert response.request.path == "/"
    assert "Your account is deleted, with everything in it." in _page(response)
    db.session.expire_all()
    assert db.session.get(User, user_id) is None
    for model in (Client, Message, Mailing, Attempt):
        assert _owned_by(model, user_id) == 0
        assert _owned_by(model, other_user.id) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(UserSession)) == 0
    assert db.session.get(Article, article_id).author_id is None
    assert not avatar.exists()
    assert f"user {user_id} deleted their account" in caplog.text
    assert "user@example.com" not in caplog.text
    for browser in (client, elsewhere):
        assert browser.get("/clients/").location.startswith("/auth/login")
    refused = client.post(
        "/auth/login", data={"email": "user@example.com", "password": factories.PASSWORD}
    )
    assert refused.status_code != 302  # no such account any more


def test_a_superuser_is_sent_back_to_the_profile_and_nothing_is_deleted(client, login, superuser):
    login(superuser)
    for response in (
        client.get("/auth/delete-account"),
        client.post("/auth/delete-account", data={"password": factories.PASSWORD}),
    ):
        assert response.location == "/auth/profile"
    assert "A superuser cannot delete their own account." in _page(client.get("/auth/profile"))
    assert db.session.get(User, superuser.id) is not None
