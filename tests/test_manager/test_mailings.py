"""Managers' screens: all mailings (filter, each one's page, disable/enable) and all
attempts (read-only)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
import time_machine

from mailer.extensions import db
from mailer.models import Mailing
from tests import factories


@pytest.fixture
def mailings(user, other_user):
    return {
        "mine": factories.make_mailing(
            user, message=factories.make_message(user, "Ursula news"), status="started"
        ),
        "theirs": factories.make_mailing(
            other_user, message=factories.make_message(other_user, "Oscar promo")
        ),
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/manager/mailings"),
        ("get", "/manager/mailings/{id}"),
        ("post", "/manager/mailings/{id}/disable"),
        ("post", "/manager/mailings/{id}/enable"),
        ("get", "/manager/attempts"),
        ("get", "/manager/attempts.csv"),
    ],
)
def test_manager_screens_are_forbidden_to_a_plain_user(login, user, mailings, method, path):
    mailing = mailings["theirs"]
    response = getattr(login(user), method)(path.format(id=mailing.id))
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is True


def test_manager_sees_every_users_mailings(login, manager, mailings):
    page = login(manager).get("/manager/mailings").get_data(as_text=True)
    assert "Ursula news" in page
    assert "Oscar promo" in page
    assert "other@example.com" in page


def test_a_blocked_owners_mailing_says_it_sends_nothing_and_leaves_the_active_count(
    app, client, login, manager, user, mailings
):
    mailing = mailings["mine"]
    mailing.next_send_at = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)
    db.session.commit()
    assert _active_mailings(client.get("/")) == 1  # the visitor's count, cached

    login(manager).post(f"/manager/users/{user.id}/block")
    page = client.get("/manager/mailings").text
    client.post("/auth/logout")

    row = re.search(rf'<tr data-mailing="{mailing.id}">.*?</tr>', page, re.DOTALL).group(0)
    assert "owner blocked: sends nothing" in row
    assert "2031-03-01" not in row  # no next send is shown for it
    fresh_for = app.config["CACHE_DEFAULT_TIMEOUT"]  # the service's counts are recounted
    with time_machine.travel(time.time() + fresh_for + 1, tick=False):
        assert _active_mailings(client.get("/")) == 0


def _active_mailings(home) -> int:
    return int(re.search(r'data-count="active_mailings">(\d+)<', home.text).group(1))


def test_manager_filters_by_owner_name_or_subject_and_status(login, manager, mailings):
    browser = login(manager)
    by_owner = browser.get("/manager/mailings?owner=OTHER@").get_data(as_text=True)
    assert "Oscar promo" in by_owner
    assert "Ursula news" not in by_owner
    by_status = browser.get("/manager/mailings?status=started").get_data(as_text=True)
    assert "Ursula news" in by_status
    assert "Oscar promo" not in by_status
    by_subject = browser.get("/manager/mailings?q=PROMO").get_data(as_text=True)
    assert "Oscar promo" in by_subject
    assert "Ursula news" not in by_subject


def test_a_manager_opens_a_mailing_and_sees_its_message_as_a_sample_client_gets_it(
    login, manager, other_user
):
    message = factories.make_message(
        other_user,
        "Offer for {{ client.full_name }}",
        body_text="Dear {{ client.full_name }}, buy now.",
        body_html="<p>Dear <b>{{ client.full_name }}</b></p>",
    )
    anna = factories.make_client(other_user, "anna@example.com", full_name="Anna Secret")
    mailing = factories.make_mailing(other_user, message=message, clients=[anna], name="Promo")
    browser = login(manager)

    listed = browser.get("/manager/mailings").text
    page = browser.get(f"/manager/mailings/{mailing.id}").text

    assert f'href="/manager/mailings/{mailing.id}">Promo</a>' in listed
    assert '<strong id="rendered-subject">Offer for Sample Client</strong>' in page
    assert "Dear Sample Client, buy now." in page
    assert "&lt;p&gt;Dear &lt;b&gt;Sample Client&lt;/b&gt;&lt;/p&gt;" in page  # in its sandbox
    assert f'id="mailing-owner">{other_user.email}</dd>' in page
    assert 'id="client-total">1</dd>' in page
    assert "Anna Secret" not in page  # the clients stay their owner's
    assert "anna@example.com" not in page
    assert f'action="/manager/mailings/{mailing.id}/disable"' in page
    assert f'href="/manager/attempts?mailing={mailing.id}"' in page


def test_a_message_that_fails_for_the_managers_sample_client_says_so(login, manager, other_user):
    # Saving checked it with the English sample ("A comment"); a Russian manager's sample
    # client's comment is one word.
    message = factories.make_message(other_user, "Hi", body_text="{{ client.comment.split()[1] }}")
    mailing = factories.make_mailing(other_user, message=message)
    manager.locale = "ru"
    db.session.commit()

    page = login(manager).get(f"/manager/mailings/{mailing.id}")

    assert page.status_code == 200
    assert 'id="rendered-failed"' in page.text
    assert "client@example.com" in page.text


def test_a_managers_look_at_a_mailing_loads_no_remote_image_its_owner_would_see(
    login, manager, other_user
):
    """A remote image in the message's HTML would tell its owner when a manager opened
    the page, and from where; the owner's own preview still shows it."""
    message = factories.make_message(
        other_user, "Hi", body_html='<img src="https://tracker.example/pixel.gif">'
    )
    mailing = factories.make_mailing(other_user, message=message)

    looked = login(manager).get(f"/manager/mailings/{mailing.id}")
    owners = login(other_user).get(f"/messages/{message.id}")

    assert "default-src 'self' data:" in looked.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in looked.headers["Content-Security-Policy"]
    assert "default-src" not in owners.headers["Content-Security-Policy"]


def test_a_manager_disabling_from_a_mailings_page_comes_back_to_it(login, manager, mailings):
    mailing = mailings["theirs"]
    page = f"http://localhost/manager/mailings/{mailing.id}"

    done = login(manager).post(f"/manager/mailings/{mailing.id}/disable", headers={"Referer": page})

    assert done.location == page
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is False


def test_manager_disables_any_mailing_and_the_owner_sees_who_and_when(
    login, manager, other_user, mailings
):
    mailing = mailings["theirs"]
    response = login(manager).post(f"/manager/mailings/{mailing.id}/disable")
    assert response.status_code == 302

    db.session.expire_all()
    stored = db.session.get(Mailing, mailing.id)
    assert stored.is_active is False
    assert stored.disabled_by_id == manager.id
    assert stored.disabled_at is not None
    owner_page = login(other_user).get(f"/mailings/{mailing.id}").get_data(as_text=True)
    assert "Disabled by manager@example.com" in owner_page
    manager_page = login(manager).get("/manager/mailings?status=disabled").get_data(as_text=True)
    assert "by manager@example.com" in manager_page


def test_the_owner_cannot_undo_a_managers_disable(login, manager, other_user, mailings):
    mailing = mailings["theirs"]
    login(manager).post(f"/manager/mailings/{mailing.id}/disable")
    owner = login(other_user)

    page = owner.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    assert "Only a manager can enable it again." in page
    assert f"/mailings/{mailing.id}/enable" not in page

    refused = owner.post(f"/mailings/{mailing.id}/enable", follow_redirects=True)
    assert "only a manager can enable it again" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is False


def test_manager_enables_a_mailing_from_now_without_a_burst(login, manager, other_user):
    from datetime import timedelta

    from mailer.models import utcnow

    start = utcnow() - timedelta(days=10, hours=1)
    mailing = factories.make_mailing(other_user, start_at=start, frequency="daily", is_active=False)

    login(manager).post(f"/manager/mailings/{mailing.id}/enable")

    db.session.expire_all()
    stored = db.session.get(Mailing, mailing.id)
    assert stored.is_active is True
    assert stored.disabled_by_id is None
    # The ten missed daily slots are skipped: the next send is in the future.
    assert stored.next_send_at > utcnow()
    assert stored.next_send_at - utcnow() < timedelta(days=1)


def test_a_manager_cannot_enable_a_mailing_its_owner_disabled(login, manager, other_user, mailings):
    mailing = mailings["theirs"]
    login(other_user).post(f"/mailings/{mailing.id}/disable")
    managing = login(manager)

    listed = managing.get("/manager/mailings?status=disabled").text
    assert "Oscar promo" in listed
    assert "Only its owner can enable it." in listed
    assert f"/manager/mailings/{mailing.id}/enable" not in listed

    refused = managing.post(f"/manager/mailings/{mailing.id}/enable", follow_redirects=True)
    assert "Its owner disabled this mailing; only they can enable it again." in refused.text
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is False

    login(other_user).post(f"/mailings/{mailing.id}/enable")  # still theirs to turn on
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is True


def test_a_manager_enables_their_own_mailing_they_disabled_from_the_list(login, manager):
    own = factories.make_mailing(manager, is_active=False, disabled_by_id=manager.id)
    managing = login(manager)
    assert f"/manager/mailings/{own.id}/enable" in managing.get("/manager/mailings").text

    managing.post(f"/manager/mailings/{own.id}/enable")

    db.session.expire_all()
    assert db.session.get(Mailing, own.id).is_active is True


def test_a_manager_cannot_enable_their_own_mailing_another_manager_disabled(login, manager):
    colleague = factories.make_user("colleague@example.com", roles=["manager"])
    own = factories.make_mailing(manager, is_active=False, disabled_by_id=colleague.id)

    answer = login(manager).post(f"/manager/mailings/{own.id}/enable", follow_redirects=True)

    assert answer.status_code == 200
    assert "only another manager can enable it again" in answer.text
    db.session.expire_all()
    assert db.session.get(Mailing, own.id).is_active is False


def test_a_missing_mailing_answers_404_to_a_manager(login, manager):
    assert login(manager).post("/manager/mailings/999/disable").status_code == 404


@pytest.mark.parametrize("typed", ["_", "%", "user_", "%example"])
def test_the_owner_filters_read_percent_and_underscore_as_themselves(
    login, manager, user, mailings, typed
):
    """No address here has them: a wildcard would have matched every owner."""
    factories.make_attempt(
        factories.make_run(mailings["mine"]), factories.make_client(user, "anna@example.com")
    )
    browser = login(manager)
    found = browser.get("/manager/mailings", query_string={"owner": typed}).text
    assert "No mailings match." in found
    assert "Ursula news" not in found
    logged = browser.get("/manager/attempts", query_string={"owner": typed}).text
    assert "anna@example.com" not in logged


def test_manager_sees_all_users_attempts_read_only(login, manager, user, other_user, mailings):
    anna = factories.make_client(user, "anna@example.com")
    oscar_client = factories.make_client(other_user, "olga@example.com")
    factories.make_attempt(factories.make_run(mailings["mine"]), anna)
    factories.make_attempt(factories.make_run(mailings["theirs"]), oscar_client, success=False)
    browser = login(manager)

    page = browser.get("/manager/attempts").get_data(as_text=True)
    assert "anna@example.com" in page
    assert "olga@example.com" in page
    assert 'method="post"' not in page.split("<main", 1)[1]

    filtered = browser.get("/manager/attempts?owner=other@").get_data(as_text=True)
    assert "olga@example.com" in filtered
    assert "anna@example.com" not in filtered

    exported = browser.get("/manager/attempts.csv?status=failure", buffered=True).get_data(
        as_text=True
    )
    assert "olga@example.com" in exported
    assert "anna@example.com" not in exported


def test_all_mailings_link_only_for_managers(login, user, manager):
    assert "All mailings" not in login(user).get("/mailings/").get_data(as_text=True)
    assert "All mailings" in login(manager).get("/mailings/").get_data(as_text=True)
