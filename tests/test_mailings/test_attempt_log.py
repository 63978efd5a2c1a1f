"""The owner's attempt log: only their own, filters, pagination, CSV export."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from mailer.delivery import dispatch, sender
from mailer.extensions import db
from mailer.mailings import pagination
from mailer.models import Attempt
from tests import factories


@pytest.fixture
def log(user, other_user):
    """Two mailings of `user` with a success and a failure, and a stranger's attempt."""
    anna = factories.make_client(user, "anna@example.com", full_name="Анна Иванова")
    boris = factories.make_client(user, "boris@example.com", full_name="Boris")
    news = factories.make_mailing(user, message=factories.make_message(user, "News"))
    promo = factories.make_mailing(user, message=factories.make_message(user, "Promo"))
    news_run = factories.make_run(news, scheduled_for=datetime(2030, 1, 10, 9, tzinfo=UTC))
    promo_run = factories.make_run(promo, scheduled_for=datetime(2030, 2, 10, 9, tzinfo=UTC))
    factories.make_attempt(
        news_run, anna, success=True, attempted_at=datetime(2030, 1, 10, 9, 1, tzinfo=UTC)
    )
    factories.make_attempt(
        promo_run,
        boris,
        success=False,
        reply="=HYPERLINK(5.1.1 User unknown)",
        attempted_at=datetime(2030, 2, 10, 9, 1, tzinfo=UTC),
    )
    stranger = factories.make_client(other_user, "secret@example.com")
    their = factories.make_mailing(other_user, message=factories.make_message(other_user, "Theirs"))
    factories.make_attempt(factories.make_run(their), stranger, success=True)
    return {"news": news, "promo": promo, "news_run": news_run, "anna": anna, "stranger": stranger}


def test_owner_sees_their_attempts_with_reply_client_mailing_and_run(login, user, log):
    page = login(user).get("/attempts/").get_data(as_text=True)

    assert "anna@example.com" in page
    assert "Анна Иванова" in page
    assert "2.0.0 Ok: queued" in page
    assert "User unknown" in page
    assert "run #1, 2030-01-10 09:00" in page
    assert "2030-01-10 09:01:00" in page
    assert "secret@example.com" not in page
    assert "Theirs" not in page


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("connection refused", "соединение отклонено"),
        ("timed out during rcpt", "нет ответа вовремя (этап: адрес получателя)"),
        ("connection dropped during data", "сервер закрыл соединение (этап: письмо)"),
        (
            "the worker stopped during sending: the outcome is unknown, not resent",
            "обработчик остановился во время отправки: итог неизвестен",
        ),
        (
            "not sent: the message failed for this client: 'dict object' has no attribute 'x'",
            "не отправлено: сообщение не собралось для этого клиента: &#39;dict object&#39;",
        ),
        ("written to 20261205-211000-ab12-anna.eml", "записано в 20261205-211000-ab12-anna.eml"),
        (
            "could not write to the outbox: [Errno 28] No space left on device",
            "не удалось записать в папку исходящих: [Errno 28] No space left on device",
        ),
        (
            "SMTPNotSupportedError during connect: STARTTLS extension not supported by server.",
            "SMTPNotSupportedError (этап: соединение): STARTTLS extension not supported",
        ),
        (
            "SSLCertVerificationError during connect: [SSL: CERTIFICATE_VERIFY_FAILED] "
            "Hostname mismatch (MAIL_SERVER must be a name the server's certificate is made for)",
            "[SSL: CERTIFICATE_VERIFY_FAILED] Hostname mismatch (MAIL_SERVER должен быть именем",
        ),
        ("4.7.1 connection refused by policy", "4.7.1 connection refused by policy"),
    ],
)
def test_replies_mailer_wrote_itself_are_in_the_viewers_language(login, user, stored, shown):
    """A server's reply is shown as the server sent it; mailer's own, translated. The CSV
    keeps them as stored."""
    user.locale = "ru"
    anna = factories.make_client(user, "anna@example.com")
    run = factories.make_run(factories.make_mailing(user, clients=[anna]))
    factories.make_attempt(run, anna, success=False, reply=stored, reply_code=None)
    browser = login(user)

    assert shown in browser.get("/attempts/").text
    assert stored in browser.get("/attempts.csv").data.decode("utf-8-sig")


def test_a_bounce_reported_later_is_marked_as_such_in_the_users_language(login, user):
    """The email was accepted (a success above it), then bounced by a report in the
    sending account's mailbox (delivery/inbox.py)."""
    anna = factories.make_client(user, "anna@example.com")
    run = factories.make_run(factories.make_mailing(user, clients=[anna]))
    factories.make_attempt(run, anna, success=True)
    factories.make_attempt(run, anna, success=False, reported=True, reply="550 5.1.1 no user")
    browser = login(user)

    page = browser.get("/attempts/").text
    assert page.count("bounced later") == 1
    user.locale = "ru"
    factories.db.session.commit()
    assert browser.get("/attempts/").text.count("вернулось позже") == 1


def test_times_are_shown_in_the_users_time_zone(login, user, log):
    user.timezone = "Europe/Moscow"
    factories.db.session.commit()
    page = login(user).get("/attempts/").get_data(as_text=True)
    assert "2030-01-10 12:01:00" in page


def test_filter_by_mailing(login, user, log):
    page = login(user).get(f"/attempts/?mailing={log['promo'].id}").get_data(as_text=True)
    assert "boris@example.com" in page
    assert "anna@example.com" not in page


def test_the_mailing_filter_calls_each_mailing_by_its_name_or_else_its_subject(login, user, log):
    log["news"].name = "Newsletter for March"
    db.session.commit()

    page = login(user).get("/attempts/").get_data(as_text=True)

    menu = page.split('id="mailing"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="\d+">([^<]*)</option>', menu) == [
        f"#{log['promo'].id} Promo",
        f"#{log['news'].id} Newsletter for March",
    ]


def test_filter_by_result(login, user, log):
    page = login(user).get("/attempts/?status=failure").get_data(as_text=True)
    assert "boris@example.com" in page
    assert "anna@example.com" not in page


def test_filter_by_date_range_is_inclusive_local_days(login, user, log):
    browser = login(user)
    january = browser.get("/attempts/?date_from=2030-01-10&date_to=2030-01-10")
    assert "anna@example.com" in january.get_data(as_text=True)
    assert "boris@example.com" not in january.get_data(as_text=True)
    later = browser.get("/attempts/?date_from=2030-01-11").get_data(as_text=True)
    assert "anna@example.com" not in later
    assert "boris@example.com" in later


def test_a_bad_date_is_reported_not_a_crash(login, user, log):
    response = login(user).get("/attempts/?date_from=yesterday")
    assert response.status_code == 200
    assert "Not a valid date value." in response.get_data(as_text=True)


def test_another_users_mailing_filter_shows_nothing(login, user, other_user, log):
    their = factories.make_mailing(other_user)
    page = login(user).get(f"/attempts/?mailing={their.id}").get_data(as_text=True)
    assert "No attempts match these filters." in page


def test_log_is_paginated(login, user):
    client = factories.make_client(user, "many@example.com")
    run = factories.make_run(factories.make_mailing(user))
    for _ in range(51):
        factories.make_attempt(run, client)
    browser = login(user)
    assert browser.get("/attempts/").get_data(as_text=True).count("many@example.com") == 50
    assert browser.get("/attempts/?page=2").get_data(as_text=True).count("many@example.com") == 1


def test_a_long_log_says_how_to_reach_the_older_attempts(login, user, log, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 1)
    browser = login(user)
    assert "The pages go through the newest 1;" in browser.get("/attempts/").text
    one_mailing = browser.get(f"/attempts/?mailing={log['news'].id}").text
    assert "The pages go through" not in one_mailing


def test_csv_export_holds_the_filtered_log_only(login, user, log):
    log["promo"].name = "Spring offer"
    db.session.commit()
    response = login(user).get("/attempts.csv?status=failure", buffered=True)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 1
    assert rows[0]["recipient"] == "boris@example.com"
    assert rows[0]["result"] == "failure"
    assert rows[0]["reply_code"] == "550"
    assert rows[0]["subject"] == "Promo"
    assert rows[0]["time"] == "2030-02-10T09:01:00+00:00"
    assert rows[0]["run_number"] == "1"
    assert rows[0]["mailing"] == "Spring offer"  # as the page calls it


def test_csv_export_defuses_spreadsheet_formulas(login, user, log):
    text = login(user).get("/attempts.csv?status=failure", buffered=True).get_data(as_text=True)
    assert "'=HYPERLINK" in text


def test_csv_export_never_holds_another_users_attempts(login, user, log):
    text = login(user).get("/attempts.csv", buffered=True).get_data(as_text=True)
    assert text.startswith("\ufefftime,result,")
    assert "secret@example.com" not in text
    assert len(list(csv.DictReader(io.StringIO(text)))) == 2


def test_empty_log_says_what_to_do(login, user):
    page = login(user).get("/attempts/").get_data(as_text=True)
    assert "No attempts yet." in page


@pytest.mark.parametrize("path", ["/attempts/", "/attempts.csv"])
@pytest.mark.parametrize("timezone", ["UTC", "Europe/Moscow", "America/New_York"])
def test_dates_at_the_ends_of_the_calendar_bound_nothing(login, user, log, path, timezone):
    user.timezone = timezone
    factories.db.session.commit()

    response = login(user).get(f"{path}?date_from=0001-01-01&date_to=9999-12-31")

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "anna@example.com" in body
    assert "boris@example.com" in body


def test_a_to_date_before_the_from_date_says_so_and_is_left_out(login, user, log):
    """Applied, it matched nothing, and the page said no attempt matched."""
    page = login(user).get("/attempts/?date_from=2030-02-01&date_to=2030-01-01").text

    assert "This is before the “From” date." in page
    assert "boris@example.com" in page  # on 2030-02-10: after the From, the To left out
    assert "anna@example.com" not in page  # on 2030-01-10: before the From


@pytest.mark.parametrize("filter_", ["client", "run", "mailing"])
def test_a_filter_naming_no_id_matches_nothing_not_the_whole_log(login, user, log, filter_):
    """A link cut short (`?client=12` copied as `?client=1%`) listed, and exported, every
    attempt, as though of that client."""
    browser = login(user)
    for value in ("abc", "99999999999999999999"):
        page = browser.get(f"/attempts/?{filter_}={value}").text
        assert "No attempts match these filters." in page
        assert "anna@example.com" not in page
        exported = browser.get(f"/attempts.csv?{filter_}={value}").data.decode("utf-8-sig")
        assert len(exported.strip().splitlines()) == 1  # the header alone
    assert "anna@example.com" in browser.get(f"/attempts/?{filter_}=").text  # no filter


def test_times_and_the_file_name_of_the_export_are_in_the_users_zone(login, user, log):
    user.timezone = "Pacific/Kiritimati"  # UTC+14: a day ahead
    factories.db.session.commit()
    with time_machine.travel(datetime(2030, 3, 1, 12, 30, tzinfo=UTC), tick=False):
        export = login(user).get("/attempts.csv")
    assert 'filename="attempts-mine-20300302-0230.csv"' in export.headers["Content-Disposition"]
    assert "2030-01-10T23:01:00+14:00" in export.data.decode("utf-8-sig")


def test_the_export_link_carries_the_filters_and_nothing_else(login, user, log):
    page = login(user).get("/attempts/?status=success&endpoint=x&_method=DELETE&_external=1").text

    assert 'href="/attempts.csv?status=success"' in page


def test_the_log_names_the_run_by_its_number_in_its_mailing(login, user, log):
    second = factories.make_run(log["news"], scheduled_for=datetime(2030, 1, 17, 9, tzinfo=UTC))
    factories.make_attempt(
        second,
        factories.make_client(user, "vera@example.com"),
        success=True,
        attempted_at=datetime(2030, 1, 17, 9, 1, tzinfo=UTC),
    )

    page = login(user).get(f"/attempts/?mailing={log['news'].id}&run={second.id}").text

    assert "Showing run #2 of “News” only." in page
    assert "run #2, 2030-01-17 09:00" in page
    assert "vera@example.com" in page
    assert "anna@example.com" not in page


def test_a_strangers_run_is_neither_named_nor_shown(login, user, other_user, log):
    subject = "Чужие новости"
    theirs = factories.make_mailing(other_user, message=factories.make_message(other_user, subject))
    run = factories.make_run(theirs)

    page = login(user).get(f"/attempts/?run={run.id}").text

    assert "Showing run" not in page
    assert subject not in page


def test_a_clients_attempts_are_shown_and_exported_alone(login, user, log):
    browser = login(user)

    page = browser.get(f"/attempts/?client={log['anna'].id}").text
    exported = browser.get(f"/attempts.csv?client={log['anna'].id}", buffered=True).text

    assert "Showing the emails to anna@example.com only." in page
    assert "anna@example.com" in page
    assert "boris@example.com" not in page
    assert f'<input id="client" name="client" type="hidden" value="{log["anna"].id}">' in page
    rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    assert [row["recipient"] for row in rows] == ["anna@example.com"]


def test_a_strangers_client_is_neither_named_nor_shown(login, user, log):
    page = login(user).get(f"/attempts/?client={log['stranger'].id}").text

    assert "Showing the emails to" not in page
    assert "secret@example.com" not in page
    assert "No attempts match these filters." in page


@pytest.mark.parametrize("path", ["/attempts.csv", "/clients/export.csv"])
def test_csv_downloads_say_their_charset_once(login, user, log, path):
    response = login(user).get(path)

    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


def _send_through_the_outbox(user, message) -> Attempt:
    """A run of a mailing to Ann sent by the real sender, as the embedded default does."""
    ann = factories.make_client(user, "ann@example.com", full_name="Ann")
    mailing = factories.make_mailing(user, message=message, clients=[ann])
    run_id = dispatch.start_forced_run(mailing.id)
    for batch in dispatch.run_batches(run_id):
        sender.send_batch(run_id, batch)
    return db.session.scalars(db.select(Attempt)).one()


def test_an_email_written_to_the_outbox_opens_from_the_log_as_the_client_got_it(
    login, user, other_user
):
    user.sender_name = "Anna's Bakery"
    message = factories.make_message(
        user,
        "News for {{ client.full_name }}",
        body_text="Dear {{ client.full_name }},\nour news.",
        body_html="<p>Hi <b>{{ client.full_name }}</b></p>",
    )
    attempt = _send_through_the_outbox(user, message)
    browser = login(user)
    assert f'href="/attempts/{attempt.id}/email"' in browser.get("/attempts/").text

    page = browser.get(f"/attempts/{attempt.id}/email")
    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert '<strong id="rendered-subject">News for Ann</strong>' in page.text
    assert "Dear Ann,\nour news." in shown
    assert "<p>Hi <b>Ann</b></p>" in shown  # the HTML part, in its sandboxed frame
    assert "Anna's Bakery <" in shown  # From, with the owner's sender name
    assert "/u/" in shown  # List-Unsubscribe, the client's own link
    assert login(other_user).get(f"/attempts/{attempt.id}/email").status_code == 404


def test_only_an_email_still_in_the_outbox_opens_and_never_a_file_elsewhere(app, login, user):
    attempt = _send_through_the_outbox(user, factories.make_message(user, "Hello"))
    browser = login(user)
    name = attempt.reply.removeprefix("written to ")
    (Path(app.config["MAIL_OUTBOX"]) / name).unlink()
    assert browser.get(f"/attempts/{attempt.id}/email").status_code == 404  # removed since

    secret = Path(app.config["MAIL_OUTBOX"]).parent / "secret.eml"
    secret.write_bytes(b"Subject: secret\r\n\r\nnot an email of mailer's\r\n")
    attempt.reply = "written to ../secret.eml"
    db.session.commit()
    assert browser.get(f"/attempts/{attempt.id}/email").status_code == 404
    assert f"/attempts/{attempt.id}/email" not in browser.get("/attempts/").text
