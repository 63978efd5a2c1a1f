"""Unsubscribe links work without login, through a signed token tied to the client."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import time_machine

from mailer.delivery import dispatch
from mailer.delivery.unsubscribe import unsubscribe_token
from mailer.extensions import db
from mailer.models import Client, utcnow
from tests import factories
from tests.test_delivery.conftest import statuses


def _client(email: str) -> Client:
    db.session.expire_all()
    return db.session.scalar(db.select(Client).where(Client.email == email))


def test_link_shows_a_confirmation_page_and_changes_nothing(client, user):
    ann = factories.make_client(user, "ann@example.com")
    response = client.get(f"/u/{unsubscribe_token(ann.id, ann.email)}")
    assert response.status_code == 200
    assert b"ann@example.com" in response.data
    assert b"<form" in response.data
    assert _client("ann@example.com").unsubscribed_at is None


def test_the_pages_name_the_sender_the_emails_came_under(client, user, other_user):
    user.sender_name = "Green Garden Shop"
    db.session.commit()
    ann = factories.make_client(user, "ann@example.com")
    bob = factories.make_client(other_user, "bob@example.com")  # no sender name
    path = f"/u/{unsubscribe_token(ann.id, ann.email)}"

    asked = client.get(path).text
    done = client.post(path, follow_redirects=True).text
    unnamed = client.get(f"/u/{unsubscribe_token(bob.id, bob.email)}").text

    assert 'id="sender">Emails from Green Garden Shop</p>' in asked
    assert 'id="sender">Emails from Green Garden Shop</p>' in done
    assert 'id="sender"' not in unnamed


def test_confirming_unsubscribes_the_client_and_a_reload_asks_nothing(client, user):
    ann = factories.make_client(user, "ann@example.com")
    link = f"/u/{unsubscribe_token(ann.id, ann.email)}"
    response = client.post(link)
    assert response.status_code == 303  # Post/Redirect/Get
    assert _client("ann@example.com").unsubscribed_at is not None
    shown = client.get(response.location)
    assert "You are unsubscribed" in shown.text
    assert "ann@example.com will receive no more emails from this sender." in shown.text


def test_the_page_after_the_button_says_what_holds_now(client, user):
    """Its address opened again after the client subscribed again (or the reverse) does
    not say what no longer holds."""
    ann = factories.make_client(user, "ann@example.com")
    link = f"/u/{unsubscribe_token(ann.id, ann.email)}"
    assert "Unsubscribe?" in client.get(f"{link}?done=unsubscribed").text
    client.post(link)
    assert "Already unsubscribed" in client.get(f"{link}?done=subscribed").text


def test_one_click_post_unsubscribes_without_a_page_and_without_csrf(
    app, client, user, monkeypatch
):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    ann = factories.make_client(user, "ann@example.com")
    response = client.post(
        f"/u/{unsubscribe_token(ann.id, ann.email)}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 204
    assert response.data == b""
    assert _client("ann@example.com").unsubscribed_at is not None


def test_only_the_client_named_by_the_token_is_unsubscribed(client, user, other_user):
    ann = factories.make_client(user, "ann@example.com")
    factories.make_client(other_user, "ann@example.com")
    client.post(f"/u/{unsubscribe_token(ann.id, ann.email)}")
    db.session.expire_all()
    rows = db.session.scalars(db.select(Client).order_by(Client.id)).all()
    assert [row.unsubscribed_at is not None for row in rows] == [True, False]


def test_a_deleted_clients_link_never_reaches_a_client_added_after_it(client, user, other_user):
    """The newest client deleted: SQLite would have given its id to the next one, and the
    link in its old emails would have unsubscribed someone else's client."""
    gone = factories.make_client(user, "gone@example.com")
    gone_id, token = gone.id, unsubscribe_token(gone.id, gone.email)
    db.session.delete(gone)
    db.session.commit()
    newcomer = factories.make_client(other_user, "newcomer@example.org")

    assert newcomer.id != gone_id
    assert client.get(f"/u/{token}").status_code == 404
    response = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404
    assert _client("newcomer@example.org").unsubscribed_at is None


def test_forged_or_damaged_token_is_not_found_and_the_page_says_what_to_do(client, user):
    ann = factories.make_client(user, "ann@example.com")
    token = unsubscribe_token(ann.id, ann.email)
    opened = client.get(f"/u/{token[:-2]}xx")
    assert opened.status_code == 404
    assert "This unsubscribe link does not work" in opened.text
    assert "open it from the email itself" in opened.text
    assert "<form" not in opened.text.split("<main", 1)[1]
    assert client.post("/u/1").status_code == 404
    assert _client("ann@example.com").unsubscribed_at is None


def test_unsubscribed_client_gets_nothing_from_later_runs(client, via_sink, mailing_for, run_jobs):
    mailing = mailing_for("ann@example.com", "bob@example.com")
    dispatch.dispatch_due()
    run_jobs()
    link = via_sink.by_recipient()["ann@example.com"].message["List-Unsubscribe"]
    url = link.split("<", 1)[1].split(">", 1)[0]
    path = "/u/" + url.split("/u/", 1)[1]
    assert client.post(path).status_code == 303
    run_id = dispatch.start_forced_run(mailing.id)
    dispatch.enqueue_run(run_id)
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 2}
    assert statuses(run_id) == {"sent": 1}


def test_a_link_stops_working_when_the_owner_changes_the_clients_address(client, login, user):
    """The email went to the old address: its link must not show the new one to whoever
    has it, nor unsubscribe its new owner."""
    ann = factories.make_client(user, "ann@example.com")
    token = unsubscribe_token(ann.id, ann.email)
    login(user).post(f"/clients/{ann.id}/edit", data={"email": "new-person@example.com"})
    assert _client("new-person@example.com").id == ann.id

    opened = client.get(f"/u/{token}")
    assert opened.status_code == 404
    assert "new-person@example.com" not in opened.text
    assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert _client("new-person@example.com").unsubscribed_at is None


def test_links_in_emails_sent_before_addresses_were_signed_still_work(app, client, user):
    from itsdangerous import URLSafeSerializer

    from mailer.delivery.unsubscribe import LEGACY_SALT

    ann = factories.make_client(user, "ann@example.com")
    legacy = URLSafeSerializer(app.config["SECRET_KEY"], salt=LEGACY_SALT).dumps(ann.id)
    assert "ann@example.com" in client.get(f"/u/{legacy}").text
    assert client.post(f"/u/{legacy}").status_code == 303
    assert _client("ann@example.com").unsubscribed_at is not None


def test_a_token_naming_no_possible_client_is_not_found(client):
    from itsdangerous.encoding import base64_encode

    for number in (b"99999999999999999999", b"-1", b"0"):
        forged = f"{base64_encode(number).decode()}.{'A' * 43}"
        assert client.get(f"/u/{forged}").status_code == 404


def test_mailto_link_names_the_clients_token(via_sink, mailing_for, run_jobs):
    from urllib.parse import parse_qs, urlsplit

    mailing = mailing_for("ann@example.com")
    dispatch.dispatch_due()
    run_jobs()
    [item] = via_sink.received
    mailto = item.message["List-Unsubscribe"].split("<mailto:", 1)[1].split(">", 1)[0]
    subject = parse_qs(urlsplit(f"mailto:{mailto}").query)["subject"]
    [ann] = mailing.clients
    assert subject == [f"unsubscribe {unsubscribe_token(ann.id, ann.email)}"]


def test_the_clients_page_shows_no_menu_of_mailer_s_users(client, user):
    """A recipient has no account here: no Log in, Register or the users' menu."""
    ann = factories.make_client(user, "ann@example.com")
    page = client.get(f"/u/{unsubscribe_token(ann.id, ann.email)}").text
    assert "Stop sending emails to ann@example.com?" in page
    assert 'id="nav"' not in page
    assert "/auth/login" not in page
    assert 'id="nav"' in client.get("/auth/login").text  # other pages keep their menu


def _resubscribe_form(page: str) -> tuple[str, str]:
    """The action and the CSRF token of the page's Subscribe again form."""
    action = re.search(r'<form method="post" action="([^"]+/resubscribe)"', page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert action, "the page offers no Subscribe again form"
    assert token, "the Subscribe again form has no CSRF token"
    return action.group(1), token.group(1)


def test_a_client_who_unsubscribed_by_mistake_subscribes_again_and_gets_the_next_run(
    app, client, via_sink, mailing_for, run_jobs, monkeypatch
):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    mailing = mailing_for("ann@example.com")
    ann = _client("ann@example.com")
    link = f"/u/{unsubscribe_token(ann.id, ann.email)}"
    client.get(link)  # the confirmation page, which gives the browser its CSRF session
    done = client.post(link, follow_redirects=True)
    assert "You are unsubscribed" in done.text
    action, csrf_token = _resubscribe_form(done.text)

    again = client.post(action, data={"csrf_token": csrf_token})
    assert again.status_code == 303
    assert "You are subscribed again" in client.get(again.location).text
    assert _client("ann@example.com").unsubscribed_at is None
    run_id = dispatch.start_forced_run(mailing.id)
    dispatch.enqueue_run(run_id)
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1}


def test_the_resubscribe_address_opened_again_leads_to_the_unsubscribe_page_changing_nothing(
    client, user
):
    ann = factories.make_client(user, "ann@example.com", unsubscribed_at=utcnow())
    link = f"/u/{unsubscribe_token(ann.id, ann.email)}"

    reloaded = client.get(f"{link}/resubscribe", follow_redirects=True)

    assert reloaded.request.path == link
    assert "Already unsubscribed" in reloaded.text
    assert _client("ann@example.com").unsubscribed_at is not None


def test_an_already_unsubscribed_client_is_offered_to_subscribe_again(client, user):
    ann = factories.make_client(user, "ann@example.com", unsubscribed_at=utcnow())
    page = client.get(f"/u/{unsubscribe_token(ann.id, ann.email)}").text
    assert "Already unsubscribed" in page
    _resubscribe_form(page)


def test_the_owner_sees_when_a_client_subscribed_again_until_they_unsubscribe_anew(
    client, login, user
):
    ann = factories.make_client(user, "ann@example.com", unsubscribed_at=utcnow())
    link = f"/u/{unsubscribe_token(ann.id, ann.email)}"
    with time_machine.travel(datetime(2026, 3, 2, 9, 30, tzinfo=UTC)):
        client.post(f"{link}/resubscribe")

    page = html.unescape(login(user).get(f"/clients/{ann.id}/edit").text)
    assert (
        "Subscribed again by their own link on 2026-03-02 09:30, after unsubscribing;"
        " mailings include this client."
    ) in page

    client.post(link)  # unsubscribed again: that is what the page says now
    page = html.unescape(login(user).get(f"/clients/{ann.id}/edit").text)
    assert "Unsubscribed on" in page
    assert "Subscribed again" not in page


def test_subscribing_again_needs_the_pages_csrf_token_and_a_valid_link(
    app, client, user, monkeypatch
):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    ann = factories.make_client(user, "ann@example.com", unsubscribed_at=utcnow())
    token = unsubscribe_token(ann.id, ann.email)
    assert client.post(f"/u/{token}/resubscribe").status_code == 400  # another site's form
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    forged = client.post(f"/u/{token[:-2]}xx/resubscribe")
    assert forged.status_code == 404
    assert "This unsubscribe link does not work" in forged.text
    assert _client("ann@example.com").unsubscribed_at is not None
