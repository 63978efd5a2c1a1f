"""A message's test email: to its owner alone, as the client shown in the preview gets it."""

from __future__ import annotations

import html
import logging
import re
import threading
from pathlib import Path

import pytest

from mailer.extensions import db
from mailer.mailings import outbox
from mailer.models import Attempt, Client, Run
from tests import factories
from tests.test_delivery.conftest import free_port

BODY = "Dear {{ client.full_name }},\nour news.\nUnsubscribe: {{ unsubscribe_url }}\n"
HTML = "<p>Dear {{ client.full_name }}, <a href='{{ unsubscribe_url }}'>unsubscribe</a></p>"


@pytest.fixture
def message(user):
    return factories.make_message(
        user, subject="News for {{ client.full_name }}", body_text=BODY, body_html=HTML
    )


def _send_test(client, message, **form):
    return client.post(f"/messages/{message.id}/test", data=form)


def _flashed(client, response) -> str:
    """The page the POST led to, as text (its flashed message)."""
    return html.unescape(client.get(response.location).text)


def test_a_test_email_comes_from_the_owners_sender_name_with_their_reply_to(
    client, login, user, message, via_sink
):
    user.sender_name, user.reply_to = "Пекарня Анны", "anna@bakery.example"
    db.session.commit()
    login(user)
    _send_test(client, message)
    [received] = via_sink.received
    assert received.message["From"].addresses[0].display_name == "Пекарня Анны"
    assert received.message["Reply-To"] == "anna@bakery.example"


def test_each_test_email_has_a_message_id_of_its_own(client, login, user, message, via_sink):
    """A provider drops an email whose Message-ID it has had (Gmail does): the test sent
    after an edit never arrived, its Message-ID the one before's."""
    ann = factories.make_client(user, "ann@example.com", full_name="Ann Lee")
    login(user)
    for _ in range(2):
        _send_test(client, message, client_id=ann.id)
        _send_test(client, message)

    ids = [received.message["Message-ID"] for received in via_sink.received]
    assert len(ids) == len(set(ids)) == 4


def test_a_test_email_reaches_the_owner_alone_as_the_chosen_client_gets_it(
    app, client, login, user, message, via_sink
):
    ann = factories.make_client(user, "ann@example.com", full_name="Ann Lee")
    login(user)

    response = _send_test(client, message, client_id=ann.id)

    assert response.status_code == 302
    assert response.location == f"/messages/{message.id}?client_id={ann.id}"
    [received] = via_sink.received
    assert received.rcpt_tos == ["user@example.com"]
    email = received.message
    assert email["To"] == "user@example.com"
    assert email["Subject"] == "[Test] News for Ann Lee"
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "Dear Ann Lee," in text
    assert f"Unsubscribe: {app.config['BASE_URL']}/unsubscribe/preview" in text
    assert "Dear Ann Lee" in email.get_body(preferencelist=("html",)).get_content()
    assert email["List-Unsubscribe"].startswith(f"<{app.config['BASE_URL']}/unsubscribe/preview>")
    assert (
        "A test email is on its way to user@example.com"
        " (the mail server answered: 250 2.0.0 Ok: queued)."
    ) in _flashed(client, response)
    # No run, no attempt, and the client is as before.
    assert db.session.scalar(db.select(db.func.count()).select_from(Run)) == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(Attempt)) == 0
    db.session.expire_all()
    assert db.session.get(Client, ann.id).unsubscribed_at is None


def test_an_owner_without_clients_gets_it_as_the_sample_client(
    client, login, user, message, via_sink
):
    login(user)
    _send_test(client, message)
    [received] = via_sink.received
    assert received.message["Subject"] == "[Test] News for Sample Client"


def test_nobody_elses_message_or_client_can_be_sent(
    client, login, user, other_user, message, via_sink
):
    theirs = factories.make_client(other_user, "theirs@example.com", full_name="Theirs")
    login(other_user)
    assert _send_test(client, message).status_code == 404  # the message is user's
    login(user)
    assert _send_test(client, message, client_id=theirs.id).status_code == 404
    assert via_sink.received == []


def test_a_mail_server_that_cannot_be_reached_is_named_on_the_page_and_in_the_log(
    client, login, user, message, send_via, caplog
):
    send_via(free_port())  # nothing listens there
    login(user)

    with caplog.at_level(logging.INFO, logger="mailer.delivery.proof"):
        response = _send_test(client, message)

    assert "The test email was not sent: connection refused" in _flashed(client, response)
    assert f"test email of message {message.id} to u***@example.com: no reply connection" in (
        caplog.text
    )
    assert "user@example.com" not in caplog.text


def test_an_owner_sends_at_most_test_emails_per_hour(
    client, login, user, message, via_sink, monkeypatch, app
):
    monkeypatch.setitem(app.config, "TEST_EMAILS_PER_HOUR", 2)
    login(user)
    for _ in range(2):
        _send_test(client, message)

    refused = _send_test(client, message)

    assert len(via_sink.received) == 2
    assert "You sent as many test emails as an hour allows. Try again in 60 minutes." in (
        _flashed(client, refused)
    )


def test_test_emails_asked_at_once_cannot_all_pass_the_hourly_limit(
    client, login, user, message, via_sink, monkeypatch, app
):
    """The limit was checked before the send and counted after it: 25 asks at once sent 19
    against a limit of 10. A second ask while the first is under way is refused now."""
    monkeypatch.setitem(app.config, "TEST_EMAILS_PER_HOUR", 1)
    login(user)
    second_tab = app.test_client()
    with second_tab.session_transaction() as session:
        session["_user_id"] = factories.login_key(user)
    via_sink.stall_at.add(user.email)
    url = f"/messages/{message.id}/test"
    first = threading.Thread(target=lambda: client.post(url))
    first.start()
    assert via_sink.stalled.wait(30)  # the first test email is under way

    refused = _send_test(second_tab, message)
    via_sink.released.set()
    first.join(30)

    assert "You sent as many test emails as an hour allows." in _flashed(second_tab, refused)
    assert len(via_sink.received) == 1


def test_a_test_email_that_sent_nothing_does_not_count_against_the_hour(
    client, login, user, via_sink, monkeypatch, app
):
    monkeypatch.setitem(app.config, "TEST_EMAILS_PER_HOUR", 1)
    broken = factories.make_message(user, body_text="Dear {{ client.nickname }}")
    sound = factories.make_message(user, body_text="Dear {{ client.full_name }}")
    login(user)

    _send_test(client, broken)
    response = _send_test(client, sound)

    assert "A test email is on its way" in _flashed(client, response)
    assert len(via_sink.received) == 1


def test_a_test_email_counts_against_the_daily_sending_limit(
    client, login, user, message, via_sink, sending_config
):
    sending_config(SEND_RATE_PER_DAY=1)
    login(user)
    _send_test(client, message)

    refused = _send_test(client, message)

    assert len(via_sink.received) == 1
    page = _flashed(client, refused)
    assert "Today's sending limit is used up, and a test email counts against it." in page
    assert "Sending resumes at" in page


def test_a_message_that_cannot_be_made_for_the_client_says_why_and_sends_nothing(
    client, login, user, via_sink
):
    """A message saved before a check it now fails (the factory saves it unchecked)."""
    broken = factories.make_message(user, body_text="Dear {{ client.nickname }}")
    login(user)

    response = _send_test(client, broken)

    assert via_sink.received == []
    assert (
        "The message cannot be made for this client: 'client' has no attribute 'nickname'"
    ) in _flashed(client, response)


def _test_email_link(page: str) -> str:
    """The link the flash gives to a test email written to the outbox."""
    return re.search(r'<a href="(/messages/\d+/test-emails/[^"]+)" class="alert-link">', page)[1]


def test_without_a_mail_server_the_test_email_opens_from_the_flash_for_its_owner_alone(
    app, client, login, user, other_user, message
):
    ann = factories.make_client(user, "ann@example.com", full_name="Ann Lee")
    login(user)
    page = client.get(_send_test(client, message, client_id=ann.id).location).text

    assert (
        "No mail server is set up, so the test email was written to the outbox"
        " instead of sent to user@example.com."
    ) in html.unescape(page)
    link = _test_email_link(page)
    opened = client.get(link)
    assert opened.status_code == 200
    shown = html.unescape(opened.text)
    assert '<strong id="rendered-subject">[Test] News for Ann Lee</strong>' in opened.text
    assert "Dear Ann Lee,\nour news." in shown
    assert "<p>Dear Ann Lee, <a href=" in shown  # the HTML part, in its sandboxed frame
    assert "user@example.com" in shown  # To: the owner alone
    assert f"{app.config['BASE_URL']}/unsubscribe/preview" in shown

    login(other_user)
    assert client.get(link).status_code == 404  # the message is user's


def test_a_test_email_link_opens_only_the_file_it_was_signed_for_while_it_is_there(
    app, client, login, user, message
):
    login(user)
    link = _test_email_link(client.get(_send_test(client, message).location).text)
    token = link.rsplit("/", 1)[1]
    other_message = factories.make_message(user, "Other")
    assert client.get(f"/messages/{other_message.id}/test-emails/{token}").status_code == 404
    assert client.get(link[:-2] + "xx").status_code == 404  # not signed by mailer

    secret = Path(app.config["MAIL_OUTBOX"]).parent / "secret.eml"
    secret.write_bytes(b"Subject: secret\r\n\r\nnot an email of mailer's\r\n")
    with app.test_request_context():
        elsewhere = outbox.test_email_token(user, message, "../secret.eml")
    assert client.get(f"/messages/{message.id}/test-emails/{elsewhere}").status_code == 404

    for written in Path(app.config["MAIL_OUTBOX"]).glob("*.eml"):
        written.unlink()
    assert client.get(link).status_code == 404  # removed since
