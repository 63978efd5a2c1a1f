"""The admin panel's users and roles: deleting people, their rights, and refusals said plainly."""

from __future__ import annotations

import html
import re

import pytest

from mailer.auth import staff
from mailer.extensions import db
from mailer.models import Article, Attempt, Client, ClientImport, Mailing, User, UserRole
from tests import factories
from tests.refusals import refusing


def test_deleting_a_user_in_the_admin_deletes_their_data_and_keeps_their_articles(
    client, login, superuser, user, manager
):
    ann = factories.make_client(user, "ann@example.com")
    run = factories.make_run(factories.make_mailing(user, clients=[ann]))
    factories.make_attempt(run, ann)
    theirs = factories.make_mailing(manager)
    factories.make_attempt(
        factories.make_run(theirs), factories.make_client(manager, "bo@example.com")
    )
    article_id = factories.make_article("Still here", author=user).id
    factories.make_client_import(user)  # an upload of theirs, their file in it
    user_id = user.id
    login(superuser)

    client.post("/admin/users/delete/", data={"id": str(user_id)})

    db.session.expire_all()
    assert db.session.get(User, user_id) is None
    assert db.session.scalars(db.select(Client).where(Client.owner_id == user_id)).all() == []
    assert [m.id for m in db.session.scalars(db.select(Mailing))] == [theirs.id]
    assert [a.recipient for a in db.session.scalars(db.select(Attempt))] == ["bo@example.com"]
    assert db.session.get(Article, article_id).author_id is None
    assert db.session.scalars(db.select(ClientImport)).all() == []


def test_the_delete_buttons_name_the_user_and_what_goes_with_them(client, login, superuser, user):
    login(superuser)
    page = client.get("/admin/users/").text

    questions = [
        html.unescape(question)
        for question in re.findall(r'onclick="return faHelpers.safeConfirm\(([^)]*)\)', page)
    ]
    [question] = [q for q in questions if "user@example.com" in q]
    assert question.startswith('"Delete user@example.com? Their clients, messages, mailings')
    assert "Delete the selected users? Their clients, messages, mailings and log" in page
    assert "delete this record" not in page
    assert "delete selected records" not in page


def test_a_deleted_users_mailings_and_clients_leave_the_home_counts_at_once(
    client, login, superuser, user, delete_user_in_admin
):
    factories.make_mailing(user, clients=[factories.make_client(user, "ann@example.com")])
    client.get("/")  # the visitor's counts, cached
    mailings, _active, clients = _home_counts(client.get("/").text)
    assert (mailings, clients) == ("1", "1")

    delete_user_in_admin(login(superuser), user.id)
    client.post("/auth/logout")

    assert _home_counts(client.get("/").text) == ["0", "0", "0"]


def _home_counts(page: str) -> list[str]:
    return re.findall(r'data-count="[a-z_]+">(\d+)</div>', page)


def test_password_hashes_are_never_shown_or_editable(client, login, superuser, user):
    login(superuser)
    pages = [
        client.get("/admin/users/"),
        client.get(f"/admin/users/details/?id={user.id}"),
        client.get(f"/admin/users/edit/?id={user.id}"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert user.password_hash not in html
        assert "password" not in html.lower()


@pytest.fixture
def user_cannot_be_deleted(user):
    with refusing("DELETE", "users", f"OLD.email = '{user.email}'"):
        yield


def test_a_user_deletion_the_database_refuses_says_so_in_plain_words(
    login, superuser, user, user_cannot_be_deleted, delete_user_in_admin, caplog
):
    user_id = user.id

    with caplog.at_level("ERROR", logger="mailer.blog.admin"):
        page = delete_user_in_admin(login(superuser), user_id).text

    assert (
        "The user user@example.com could not be deleted. It has been logged; please try again."
        in page
    )
    assert "refuse" not in page
    assert "successfully deleted" not in page
    assert "refused by the refuse trigger" in caplog.text
    db.session.expire_all()
    assert db.session.get(User, user_id) is not None


def test_deleting_selected_users_deletes_the_others_when_one_is_refused(
    client, login, superuser, user, user_cannot_be_deleted
):
    others = [factories.make_user(email=f"other{n}@example.com") for n in (1, 2)]
    ids = [user.id] + [other.id for other in others]
    login(superuser)

    page = client.post(
        "/admin/users/action/",
        data={"action": "delete", "rowid": [str(id) for id in ids]},
        follow_redirects=True,
    ).text

    assert "2 records were successfully deleted." in page
    assert "The user user@example.com could not be deleted." in page
    db.session.expire_all()
    assert [db.session.get(User, id) is not None for id in ids] == [True, False, False]


def test_granting_a_role_the_user_already_has_says_so_at_the_field(
    client, login, superuser, manager
):
    login(superuser)

    response = client.post("/admin/roles/new/", data={"user": str(manager.id), "name": "manager"})

    assert response.status_code == 200
    assert "manager@example.com already has this role." in response.text
    assert db.session.query(UserRole).filter_by(user_id=manager.id).count() == 1


def test_the_superuser_cannot_delete_their_own_account_here(login, superuser, delete_user_in_admin):
    page = delete_user_in_admin(login(superuser), superuser.id).text

    assert "You cannot delete your own account here." in page
    assert "successfully deleted" not in page
    db.session.expire_all()
    assert db.session.get(User, superuser.id) is not None


def test_the_superuser_cannot_take_away_their_own_rights(client, login, superuser):
    login(superuser)

    page = client.post(
        f"/admin/users/edit/?id={superuser.id}",
        data={"full_name": "Typed name", "timezone": "UTC", "locale": "en"},  # box unticked
        follow_redirects=True,
    ).text

    assert "You cannot take away your own superuser rights." in page
    assert "Typed name" in page
    db.session.expire_all()
    assert db.session.get(User, superuser.id).is_superuser
    assert client.get("/admin/users/").status_code == 200


def test_making_a_blocked_user_superuser_unblocks_them_and_says_so(
    client, login, superuser, manager, user
):
    """A superuser cannot be blocked, and so could not be unblocked either: left blocked,
    they could never log in."""
    staff.block_user(user=user, by=manager, reason="Spam")
    db.session.commit()
    login(superuser)

    page = client.post(
        f"/admin/users/edit/?id={user.id}",
        data={"full_name": user.full_name, "timezone": "UTC", "locale": "en", "is_superuser": "y"},
        follow_redirects=True,
    ).text

    assert f"{user.email} was blocked: a superuser cannot be, so they are unblocked." in page
    db.session.expire_all()
    changed = db.session.get(User, user.id)
    assert changed.is_superuser
    assert not changed.is_blocked
    assert changed.block_reason == ""


def test_a_users_details_name_their_language(client, login, superuser, user):
    user.locale = "ru"
    db.session.commit()
    login(superuser)
    page = client.get(f"/admin/users/details/?id={user.id}").text
    assert re.search(r"Interface language</b>\s*</td>\s*<td>\s*Русский", page)


@pytest.mark.parametrize(
    ("field", "typed"), [("timezone", "Mars/Olympus"), ("locale", "zz"), ("timezone", "<b>x</b>")]
)
def test_the_panel_offers_only_the_zones_and_languages_the_profile_does(
    client, login, superuser, user, field, typed
):
    login(superuser)
    form = client.get(f"/admin/users/edit/?id={user.id}").text
    assert '<option value="Europe/Moscow">' in form
    assert '<option value="ru">Русский</option>' in form

    page = client.post(
        f"/admin/users/edit/?id={user.id}",
        data={"full_name": "Typed name", "timezone": "UTC", "locale": "en", field: typed},
    ).text

    assert "Not a valid choice." in page
    assert "Typed name" in page
    db.session.expire_all()
    saved = db.session.get(User, user.id)
    assert (saved.timezone, saved.locale) == ("UTC", "en")


def test_the_panel_refuses_a_phone_the_profile_would_refuse(client, login, superuser, user):
    """Saved by the panel, "abc" then stopped its user saving their own profile, their
    language included, on an error under a field they never touched."""
    login(superuser)
    data = {"full_name": "Typed name", "timezone": "UTC", "locale": "en"}

    refused = client.post(f"/admin/users/edit/?id={user.id}", data={**data, "phone": "abc"})
    client.post(f"/admin/users/edit/?id={user.id}", data={**data, "phone": " +7 (900) 123-45-67 "})

    assert "Digits, spaces, +, - and brackets only." in refused.text
    db.session.expire_all()
    assert db.session.get(User, user.id).phone == "+7 (900) 123-45-67"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime"])
def test_a_user_whose_saved_zone_is_unknown_sees_times_in_the_default_zone(
    client, login, user, caplog, zone
):
    user.timezone = zone  # saved before the forms offered only known zones
    db.session.commit()
    login(user)
    factories.make_mailing(user, clients=[factories.make_client(user, "ann@example.com")])

    with caplog.at_level("WARNING", logger="mailer.i18n"):
        for path in ("/", "/clients/", "/mailings/", "/mailings/new", "/auth/profile", "/blog/"):
            assert client.get(path).status_code == 200, path

    assert f"unknown time zone '{zone}'" in caplog.text
