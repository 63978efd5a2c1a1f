"""The owner's mailing screens: create, edit, list, detail, copy, delete, disable/enable."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from mailer.extensions import db
from mailer.models import Attempt, Mailing, mailing_clients, utcnow
from tests import factories


def form_data(message, clients, **overrides):
    data = {
        "message_id": str(message.id),
        "client_scope": "chosen",
        "client_ids": [str(client.id) for client in clients],
        "client_search": "",
        "start_at": "2031-03-01T09:00",
        "end_at": "2031-06-01T09:00",
        "frequency": "weekly",
        "timezone": "Europe/Moscow",
        "is_active": "y",
    }
    data.update(overrides)
    return data


def client_ids_of(mailing_id: int) -> set[int]:
    rows = db.session.execute(
        db.select(mailing_clients.c.client_id).where(mailing_clients.c.mailing_id == mailing_id)
    )
    return set(rows.scalars())


def refused(browser, data: dict) -> str:
    """Send the new-mailing form; check it was refused (the form again, nothing saved)
    and return the page."""
    response = browser.post("/mailings/new", data=data)
    assert response.status_code == 200
    assert db.session.scalar(db.select(db.func.count(Mailing.id))) == 0
    return response.get_data(as_text=True)


@pytest.fixture
def message(user):
    return factories.make_message(user, subject="Spring news")


@pytest.fixture
def clients(user):
    return [
        factories.make_client(user, "anna@example.com", full_name="Анна Иванова"),
        factories.make_client(user, "boris@example.com", full_name="Борис Петров"),
    ]


def test_owner_creates_a_mailing_read_in_its_time_zone(login, user, message, clients):
    response = login(user).post("/mailings/new", data=form_data(message, clients))

    assert response.status_code == 302
    mailing = db.session.scalar(db.select(Mailing))
    # 09:00 in Moscow (UTC+3) is 06:00 UTC.
    assert mailing.start_at == datetime(2031, 3, 1, 6, 0, tzinfo=UTC)
    assert mailing.timezone == "Europe/Moscow"
    assert mailing.status == "created"
    assert mailing.next_send_at == mailing.start_at
    assert client_ids_of(mailing.id) == {client.id for client in clients}


def test_form_defaults_to_the_owners_time_zone(login, user, message):
    user.timezone = "Asia/Vladivostok"
    db.session.commit()
    page = login(user).get("/mailings/new").get_data(as_text=True)
    assert 'value="Asia/Vladivostok"' in page


def test_end_before_start_is_refused_and_the_form_keeps_the_input(login, user, message, clients):
    data = form_data(message, clients, end_at="2031-02-01T09:00", client_search="анна")
    page = refused(login(user), data)

    assert "The end must be after the start." in page
    assert 'value="2031-02-01T09:00"' in page
    assert 'value="анна"' in page
    assert f'value="{clients[0].id}" id="client-{clients[0].id}" checked' in page


def test_a_once_mailing_may_leave_the_end_empty_and_gets_a_day(login, user, message, clients):
    browser = login(user)
    [end_input] = re.findall(r'<input[^>]*id="end_at"[^>]*>', browser.get("/mailings/new").text)
    assert "required" not in end_input  # the browser lets it stay empty
    data = form_data(message, clients, frequency="once", end_at="")

    response = browser.post("/mailings/new", data=data)

    assert response.status_code == 302
    mailing = db.session.scalar(db.select(Mailing))
    assert mailing.end_at - mailing.start_at == timedelta(days=1)
    assert mailing.next_send_at == mailing.start_at


def test_an_end_left_empty_stays_empty_on_edit_and_follows_a_new_start(
    login, user, message, clients
):
    browser = login(user)
    browser.post("/mailings/new", data=form_data(message, clients, frequency="once", end_at=""))
    mailing = db.session.scalar(db.select(Mailing))
    [end_input] = re.findall(
        r'<input[^>]*id="end_at"[^>]*>', browser.get(f"/mailings/{mailing.id}/edit").text
    )
    assert 'value=""' in end_input

    later = form_data(
        message, [], frequency="once", end_at="", start_at="2031-05-01T09:00", client_scope="keep"
    )
    response = browser.post(f"/mailings/{mailing.id}/edit", data=later)

    assert response.status_code == 302
    db.session.expire_all()
    mailing = db.session.get(Mailing, mailing.id)
    assert mailing.start_at == datetime(2031, 5, 1, 6, 0, tzinfo=UTC)
    assert mailing.end_at - mailing.start_at == timedelta(days=1)


def test_a_past_start_with_an_empty_end_is_refused_at_the_start(login, user, message, clients):
    data = form_data(message, clients, frequency="once", end_at="", start_at="2020-01-01T10:00")

    page = refused(login(user), data)

    start_field = page.split('id="start_at"', 1)[1].split('id="end_at"', 1)[0]
    assert "The start has passed: this mailing would never send." in start_field
    assert "The end has passed" not in page


@pytest.mark.parametrize("end_at", ["2031-05-01T09:00", "2020-01-02T09:00"])
def test_a_once_mailing_whose_start_has_passed_is_refused_at_the_start_whatever_its_end(
    login, user, message, clients, end_at
):
    data = form_data(message, clients, frequency="once", start_at="2020-01-01T10:00", end_at=end_at)

    page = refused(login(user), data)

    start_field = page.split('id="start_at"', 1)[1].split('id="end_at"', 1)[0]
    assert "The start has passed: this mailing would never send." in start_field
    assert "The end has passed" not in page
    assert f'value="{end_at}"' in page  # what was typed stays


def test_a_periodic_mailing_with_no_send_time_before_its_end_is_refused_at_the_end(
    login, user, message, clients
):
    start, end = utcnow() - timedelta(days=20), utcnow() + timedelta(days=2)
    data = form_data(
        message,
        clients,
        frequency="monthly",
        timezone="UTC",
        start_at=start.strftime("%Y-%m-%dT%H:%M"),
        end_at=end.strftime("%Y-%m-%dT%H:%M"),
    )

    page = refused(login(user), data)

    end_field = page.split('id="end_at"', 1)[1]
    assert "No send time is left before the end: this mailing would never send." in end_field
    assert "The end has passed" not in page


def test_a_periodic_mailing_needs_its_end(login, user, message, clients):
    page = refused(login(user), form_data(message, clients, frequency="daily", end_at=""))

    assert "Enter the end." in page
    assert 'value="2031-03-01T09:00"' in page  # the start typed is kept


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "factory"])
def test_unknown_time_zone_is_refused_with_the_typed_value_kept(
    login, user, message, clients, zone
):
    page = refused(login(user), form_data(message, clients, timezone=zone))
    assert "Unknown time zone" in page
    assert f'value="{zone}"' in page


def test_an_empty_form_shows_every_field_to_mend_at_once_the_clients_included(
    login, user, message, clients
):
    page = refused(
        login(user),
        form_data(message, [], start_at="", end_at="", client_scope="chosen"),
    )
    assert "Enter the start." in page
    assert "Choose at least one client." in page


def test_a_new_user_is_shown_where_to_write_a_message_and_add_clients(login, user):
    page = login(user).get("/mailings/new").get_data(as_text=True)
    assert "You have no messages yet" in page
    assert 'href="/messages/new">New message</a>' in page
    assert "You have no clients yet" in page
    assert 'href="/clients/new">New client</a>' in page
    assert 'href="/clients/import">Import a spreadsheet or a CSV file</a>' in page


def test_a_time_zone_typed_in_any_case_is_read_and_kept_as_spelled(login, user, message, clients):
    data = form_data(message, clients, timezone=" europe/MOSCOW ")
    assert login(user).post("/mailings/new", data=data).status_code == 302
    mailing = db.session.scalar(db.select(Mailing))
    assert mailing.timezone == "Europe/Moscow"
    assert mailing.start_at == datetime(2031, 3, 1, 6, 0, tzinfo=UTC)  # 09:00 in Moscow


def test_a_start_the_clocks_skip_is_refused_with_the_input_kept(login, user, message, clients):
    # Berlin goes from 02:00 straight to 03:00 on 2031-03-30: 02:30 never happens there.
    data = form_data(message, clients, start_at="2031-03-30T02:30", timezone="Europe/Berlin")
    page = refused(login(user), data)

    assert "There is no 02:30 on 2031-03-30 in Europe/Berlin" in page
    assert 'value="2031-03-30T02:30"' in page
    moved = form_data(message, clients, start_at="2031-03-30T03:30", timezone="Europe/Berlin")
    assert login(user).post("/mailings/new", data=moved).status_code == 302


def test_a_year_no_schedule_can_hold_is_refused_with_the_input_kept(login, user, message, clients):
    """Year 1 read in a zone behind UTC is before any date: it was a server error."""
    data = form_data(
        message,
        clients,
        start_at="0001-01-01T00:00",
        end_at="9999-12-31T23:59",
        timezone="Etc/GMT+12",
        frequency="daily",
    )
    page = refused(login(user), data)

    assert page.count("Enter a year from 2000 to 2999.") == 2
    assert 'value="0001-01-01T00:00"' in page


def test_another_users_client_id_is_refused_never_attached(
    login, user, other_user, message, clients
):
    stranger = factories.make_client(other_user, "stranger@example.com")
    data = form_data(message, [*clients, stranger])

    page = refused(login(user), data)

    assert "Some chosen clients are not yours." in page
    assert db.session.scalar(db.select(db.func.count()).select_from(mailing_clients)) == 0


def test_another_users_message_id_is_refused(login, user, other_user, clients):
    foreign = factories.make_message(other_user, subject="Not yours")
    page = refused(login(user), form_data(foreign, clients))
    assert "Choose one of your messages." in page


def test_no_client_chosen_is_refused(login, user, message):
    page = refused(login(user), form_data(message, []))
    assert "Choose at least one client." in page


def test_all_my_clients_attaches_every_own_client_only(login, user, other_user, message, clients):
    factories.make_client(other_user, "stranger@example.com")
    data = form_data(message, [], client_scope="all")

    browser = login(user)
    form = browser.get("/mailings/new").text
    browser.post("/mailings/new", data=data)
    factories.make_client(user, "later@example.com")

    mailing = db.session.scalar(db.select(Mailing))
    assert client_ids_of(mailing.id) == {client.id for client in clients}  # not the later one
    assert "Clients added later join only if you tick this" in form  # as said (it was not)


def test_clients_matching_search_attaches_only_the_matches(login, user, message, clients):
    data = form_data(message, [], client_scope="search", client_search="Борис")

    login(user).post("/mailings/new", data=data)

    mailing = db.session.scalar(db.select(Mailing))
    assert client_ids_of(mailing.id) == {clients[1].id}


def test_search_ignores_the_case_of_emails(login, user, message, clients):
    data = form_data(message, [], client_scope="search", client_search="ANNA@")
    login(user).post("/mailings/new", data=data)
    mailing = db.session.scalar(db.select(Mailing))
    assert client_ids_of(mailing.id) == {clients[0].id}


def test_the_edit_form_counts_the_mailings_clients_ticked_below(login, user, message, clients):
    factories.make_client(user, "vera@example.com")  # shown, not ticked
    mailing = factories.make_mailing(user, message=message, clients=clients)
    page = login(user).get(f"/mailings/{mailing.id}/edit").text
    assert re.search(r'id="ticked-count"[^>]*>Ticked: 2</span>', page)


def test_editing_keeps_the_clients_unless_asked(login, user, message, clients):
    mailing = factories.make_mailing(user, message=message, clients=clients)
    data = form_data(message, [], client_scope="keep", frequency="daily")

    response = login(user).post(f"/mailings/{mailing.id}/edit", data=data)

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).frequency == "daily"
    assert client_ids_of(mailing.id) == {client.id for client in clients}


def test_edit_form_shows_local_times_of_the_mailing(login, user, message, clients):
    mailing = factories.make_mailing(
        user,
        message=message,
        clients=clients,
        timezone="Europe/Moscow",
        start_at=datetime(2031, 3, 1, 6, 0, tzinfo=UTC),
    )
    page = login(user).get(f"/mailings/{mailing.id}/edit").get_data(as_text=True)
    assert 'value="2031-03-01T09:00"' in page
    # "now" in the zone those times are in, not the viewer's (UTC here)
    assert re.search(r"Now it is \d{4}-\d\d-\d\d \d\d:\d\d in Europe/Moscow\.", page)


def test_the_edit_form_says_a_send_in_progress_skips_clients_taken_out(
    login, user, message, clients
):
    mailing = factories.make_mailing(user, message=message, clients=clients)
    browser = login(user)
    assert 'id="sending-note"' not in browser.get(f"/mailings/{mailing.id}/edit").text
    factories.make_run(mailing)  # unfinished

    page = browser.get(f"/mailings/{mailing.id}/edit").text

    assert "A send of this mailing is in progress." in page
    assert "those you take out get nothing more from it" in page


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        (
            {"start_at": "2020-01-01T09:00", "end_at": "2020-02-01T09:00"},
            "The end has passed: this mailing would never send.",
        ),
        (
            {"client_scope": "search", "client_search": "zzz-none"},
            "No client matches this search: the mailing would reach no one.",
        ),
    ],
    ids=["its end has passed", "its search matches no client"],
)
def test_a_new_mailing_that_would_never_send_or_reach_no_one_is_refused(
    login, user, message, clients, fields, refusal
):
    response = login(user).post("/mailings/new", data={**form_data(message, clients), **fields})

    assert response.status_code == 200
    assert refusal in response.text
    for typed in fields.values():
        assert f'value="{typed}"' in response.text  # what was typed stays
    assert db.session.scalar(db.select(Mailing)) is None


def test_a_mailing_that_never_sent_edited_to_end_in_the_past_is_refused_not_ended_unsent(
    login, user, message, clients
):
    browser = login(user)
    browser.post("/mailings/new", data=form_data(message, clients))
    mailing = db.session.scalar(db.select(Mailing))
    planned = mailing.next_send_at

    past = {"start_at": "2020-01-01T09:00", "end_at": "2020-02-01T09:00"}  # a typo in the year
    page = browser.post(
        f"/mailings/{mailing.id}/edit", data={**form_data(message, clients), **past}
    )

    assert "The end has passed: this mailing would never send." in page.text
    for typed in past.values():
        assert f'value="{typed}"' in page.text  # what was typed stays
    db.session.expire_all()
    assert (mailing.status, mailing.next_send_at) == ("created", planned)


def test_a_mailing_that_has_sent_edited_to_end_in_the_past_is_completed(
    login, user, message, clients
):
    browser = login(user)
    browser.post("/mailings/new", data=form_data(message, clients))
    mailing = db.session.scalar(db.select(Mailing))
    factories.make_run(mailing)

    data = form_data(message, clients, start_at="2020-01-01T09:00", end_at="2020-02-01T09:00")
    browser.post(f"/mailings/{mailing.id}/edit", data=data)

    db.session.expire_all()
    assert mailing.status == "completed"
    assert mailing.next_send_at is None


def test_send_now_on_a_mailing_without_clients_says_so_and_starts_nothing(
    login, user, message, clients
):
    from mailer.models import Run

    browser = login(user)
    browser.post("/mailings/new", data=form_data(message, clients))
    mailing = db.session.scalar(db.select(Mailing))
    assert 'id="no-clients"' not in browser.get(f"/mailings/{mailing.id}").text
    for client in clients:
        browser.post(f"/clients/{client.id}/delete")

    shown = browser.get(f"/mailings/{mailing.id}").text  # said before any click
    assert "This mailing has no clients, so it sends to nobody." in shown
    assert f'action="/mailings/{mailing.id}/send-now"' not in shown  # nothing to press
    assert "Use “Send now”" not in html.unescape(shown)
    assert "Nothing sent yet." in shown
    # A page opened before the clients were deleted still has the button.
    page = browser.post(f"/mailings/{mailing.id}/send-now", follow_redirects=True).text

    assert "This mailing has no clients to send to: edit it to choose some." in page
    assert db.session.scalar(db.select(Run)) is None


def test_a_mailing_whose_clients_all_unsubscribed_or_bounced_says_it_reaches_nobody(
    login, user, message, clients
):
    from mailer.models import Run

    mailing = factories.make_mailing(user, message=message, clients=clients)
    clients[0].unsubscribed_at = utcnow()
    db.session.commit()
    browser = login(user)

    one_left = browser.get(f"/mailings/{mailing.id}").text
    clients[1].bounced_at = utcnow()
    db.session.commit()
    none_left = browser.get(f"/mailings/{mailing.id}").text
    refused = browser.post(f"/mailings/{mailing.id}/send-now", follow_redirects=True).text
    picker = browser.get(f"/mailings/{mailing.id}/edit").text

    assert 'id="not-receiving">1 unsubscribed or bounced: skipped' in one_left
    assert 'id="no-clients"' not in one_left
    assert f'action="/mailings/{mailing.id}/send-now"' in one_left
    assert "All its clients unsubscribed or bounced, so it sends to nobody." in none_left
    assert f'action="/mailings/{mailing.id}/send-now"' not in none_left
    assert "All this mailing&#39;s clients unsubscribed or bounced" in refused
    assert db.session.scalar(db.select(Run)) is None
    assert ">unsubscribed</span>" in picker
    assert ">bounced</span>" in picker
    assert ">active</span>" not in picker


@pytest.mark.parametrize(
    ("due_ago", "fields", "overdue"),
    [
        (timedelta(minutes=10), {}, True),
        (timedelta(seconds=30), {}, False),  # the next tick takes it
        (timedelta(minutes=10), {"is_active": False}, False),
    ],
    ids=["ten minutes late", "due half a minute ago", "disabled"],
)
def test_detail_page_says_when_a_send_is_late_because_nothing_dispatches(
    login, user, message, clients, due_ago, fields, overdue
):
    due = utcnow() - due_ago
    mailing = factories.make_mailing(
        user,
        message=message,
        clients=clients,
        start_at=due - timedelta(days=1),
        next_send_at=due,
        **fields,
    )

    page = login(user).get(f"/mailings/{mailing.id}").text

    assert ('id="overdue"' in page) is overdue
    if overdue:
        assert f"The send due at {due:%Y-%m-%d %H:%M} has not started" in page
        assert "scheduler is not running, or no worker runs its jobs" in page


def test_detail_page_shows_the_next_five_send_times(login, user, message, clients):
    login(user).post("/mailings/new", data=form_data(message, clients, frequency="daily"))
    mailing = db.session.scalar(db.select(Mailing))

    page = login(user).get(f"/mailings/{mailing.id}").get_data(as_text=True)

    # The user is in UTC; 09:00 Moscow is 06:00 UTC on five consecutive days.
    for day in range(1, 6):
        assert f"2031-03-0{day} 06:00" in page
    assert "2031-03-06 06:00" not in page


def test_detail_page_links_the_message_to_its_preview(login, user, message):
    mailing = factories.make_mailing(user, message=message)

    page = login(user).get(f"/mailings/{mailing.id}").text

    shown = page[page.index('id="mailing-message"') :]
    assert shown.startswith(f'id="mailing-message"><a href="/messages/{message.id}"')


def test_the_runs_table_numbers_each_run_and_shows_what_was_cancelled(login, user, message):
    from mailer.delivery import tallies

    mailing = factories.make_mailing(user, message=message)
    run = factories.make_run(mailing, total=16, finished_at=datetime.now(UTC))
    tallies.add(run.id, sent=4, cancelled=12)
    db.session.commit()

    page = login(user).get(f"/mailings/{mailing.id}").text

    row = page.split(f'data-run="{run.id}"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="text-body-secondary">#1</span>' in row
    assert '<td class="text-body-secondary d-none d-md-table-cell" data-count="cancelled">12' in row
    assert 'data-count="sent">4' in row


def test_a_mailings_runs_are_numbered_1_2_3_whatever_other_mailings_sent(
    login, user, other_user, message
):
    """Run ids count every mailing's runs: the page showed one mailing's as #4, #2, #1."""
    from mailer.delivery import dispatch

    mailing = factories.make_mailing(user, message=message)
    other = factories.make_mailing(other_user)
    for days_ago in (30, 23):
        when = utcnow() - timedelta(days=days_ago)
        factories.make_run(mailing, scheduled_for=when, finished_at=when)
        factories.make_run(other, scheduled_for=when, finished_at=when)
    sent_now = dispatch.start_forced_run(mailing.id)

    page = login(user).get(f"/mailings/{mailing.id}").text

    numbers = re.findall(r'<span class="text-body-secondary">#(\d+)</span>', page)
    assert numbers == ["3", "2", "1"]  # newest first
    row = page.split(f'data-run="{sent_now}"', 1)[1].split("</tr>", 1)[0]
    assert "#3" in row


def test_a_page_of_runs_past_the_last_is_not_found(login, user, message):
    mailing = factories.make_mailing(user, message=message)
    factories.make_run(mailing)
    browser = login(user)
    assert browser.get(f"/mailings/{mailing.id}?page=1").status_code == 200
    assert browser.get(f"/mailings/{mailing.id}?page=2").status_code == 404  # not "No runs yet"


def test_a_disabled_mailing_page_offers_nothing_it_cannot_do(login, user, message):
    mailing = factories.make_mailing(user, message=message, is_active=False)

    page = login(user).get(f"/mailings/{mailing.id}").text

    assert "None while the mailing is disabled." in page
    assert "Nothing sent yet." in page
    assert "Use “Send now”" not in page  # there is no such button while it is disabled
    assert "No runs yet." in page
    assert "The first one starts at the next send time above." not in page


def test_a_completed_once_mailing_does_not_suggest_editing_the_end(login, user, message, clients):
    past = utcnow() - timedelta(days=3)
    mailing = factories.make_mailing(
        user,
        message=message,
        clients=clients,
        start_at=past,
        next_send_at=None,
        status="completed",
    )

    page = login(user).get(f"/mailings/{mailing.id}").text

    assert "None: a one-time mailing sends at its start only." in page
    assert "Edit the end time" not in page
    assert "Nothing sent yet, and its schedule has ended." in page  # no "next send time"
    assert "wait for its next send time" not in page


def test_list_shows_status_next_send_and_last_result(login, user, message, clients):
    mailing = factories.make_mailing(user, message=message, clients=clients, status="started")
    run = factories.make_run(mailing)
    factories.make_delivery(run, clients[0], status="sent")
    factories.make_delivery(run, clients[1], status="failed")
    factories.make_delivery(run, factories.make_client(user, "gone@example.com"), status="unknown")

    page = login(user).get("/mailings/").get_data(as_text=True)

    assert "Spring news" in page
    assert "started" in page
    assert "1 sent" in page
    assert "2 failed or unknown" in page  # not "2 failed": the report tells them apart


def test_list_finds_mailings_by_name_or_subject_in_any_case_and_by_status(
    login, user, other_user, clients
):
    spring = factories.make_message(user, subject="Весенние новости")
    factories.make_mailing(user, message=spring, clients=clients, name="Март", status="started")
    factories.make_mailing(user, message=spring, clients=clients, name="Апрель", is_active=False)
    factories.make_mailing(user, clients=clients, name="Black Friday 50%")
    factories.make_mailing(other_user, message=factories.make_message(other_user, "Весна"))
    browser = login(user)

    def listed(**query) -> list[str]:
        page = browser.get("/mailings/", query_string=query).get_data(as_text=True)
        return re.findall(r'<a href="/mailings/\d+">([^<]+)</a>', page)

    assert sorted(listed(q="ВЕСЕН")) == ["Апрель", "Март"]  # the message's subject
    assert listed(q="апр") == ["Апрель"]  # the name
    assert listed(q="0%") == ["Black Friday 50%"]  # % as typed
    assert listed(q="весна") == []  # another user's
    assert listed(status="disabled") == ["Апрель"]
    assert listed(status="started") == ["Март"]
    assert listed(q="весен", status="created") == []
    empty = browser.get("/mailings/?q=nothing").get_data(as_text=True)
    assert "No mailings match." in empty
    assert "Create your first mailing" not in empty
    assert 'value="nothing"' in empty  # the filter keeps what was typed


def test_list_says_which_mailings_are_sending_or_paused_and_what_is_left(
    login, user, message, clients
):
    sending, paused, finished = (
        factories.make_mailing(user, message=message, clients=clients, name=name)
        for name in ("Sending", "Paused", "Finished")
    )
    for mailing in (sending, paused):
        run = factories.make_run(mailing)
        factories.make_delivery(run, clients[0])
        factories.make_delivery(run, clients[1], status="pending")
    paused_run = factories.make_run(paused, paused_until=datetime(2030, 1, 2, tzinfo=UTC))
    factories.make_delivery(paused_run, clients[0], status="pending")
    factories.make_delivery(factories.make_run(finished, finished_at=utcnow()), clients[0])

    page = login(user).get("/mailings/").text

    def row(mailing) -> str:
        start = page.index(f'href="/mailings/{mailing.id}"')
        return page[start : page.index("</tr>", start)]

    assert 'data-run-state="sending"' in row(sending)
    assert "1 to go" in row(sending)
    assert 'data-run-state="paused"' in row(paused)
    assert "paused until 2030-01-02" in row(paused)
    assert "data-run-state" not in row(finished)
    assert "to go" not in row(finished)


def test_list_tells_a_new_user_what_to_do(login, user):
    page = login(user).get("/mailings/").get_data(as_text=True)
    assert "Create your first mailing" in page


def test_owner_deletes_a_mailing_with_its_log(login, user, message, clients):
    mailing = factories.make_mailing(user, message=message, clients=clients)
    run = factories.make_run(mailing)
    factories.make_attempt(run, clients[0])

    response = login(user).post(f"/mailings/{mailing.id}/delete")

    assert response.status_code == 302
    assert db.session.scalar(db.select(db.func.count(Mailing.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Attempt.id))) == 0  # gone from the log


def test_the_deletion_asks_saying_what_goes_with_the_mailing(login, user, message, clients):
    mailing = factories.make_mailing(user, message=message, clients=clients)
    done = factories.make_run(mailing, finished_at=utcnow())
    factories.make_delivery(done, clients[0])
    factories.make_delivery(done, clients[1])
    under_way = factories.make_run(mailing)
    factories.make_delivery(under_way, clients[0])
    factories.make_delivery(under_way, clients[1], status="pending")

    page = login(user).get(f"/mailings/{mailing.id}").text

    asked = html.unescape(re.search(r'data-confirm="(Delete this mailing[^"]*)"', page)[1])
    assert "Its send under way stops: 1 email not sent yet will not go out." in asked
    assert "The 3 emails it sent leave the attempt log and every report." in asked
    assert asked.endswith("To stop it and keep its history, disable it instead.")


def test_a_finished_send_with_cancelled_emails_says_why_they_were_not_sent(
    login, user, message, clients
):
    mailing = factories.make_mailing(user, message=message, clients=clients)
    run = factories.make_run(mailing, finished_at=utcnow())
    factories.make_delivery(run, clients[0])
    factories.make_delivery(run, clients[1], status="cancelled")

    page = login(user).get(f"/mailings/{mailing.id}").text

    assert "Finished. The cancelled ones were not sent: the mailing was disabled" in page


def test_owner_disables_and_enables_their_mailing(login, user, message, clients):
    mailing = factories.make_mailing(
        user, message=message, clients=clients, start_at=utcnow() + timedelta(days=10)
    )
    login(user).post(f"/mailings/{mailing.id}/disable")

    page = login(user).get(f"/mailings/{mailing.id}").get_data(as_text=True)
    assert "Disabled by user@example.com" in page
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is False

    login(user).post(f"/mailings/{mailing.id}/enable")
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is True
    assert db.session.get(Mailing, mailing.id).disabled_by_id is None


def test_a_copy_has_the_clients_message_and_schedule_and_sends_nothing_until_enabled(
    login, user, message, clients
):
    start = datetime(2031, 3, 1, 6, 0, tzinfo=UTC)
    mailing = factories.make_mailing(
        user,
        message=message,
        clients=clients,
        name="Spring",
        start_at=start,
        end_at=start + timedelta(days=90),
        frequency="weekly",
        timezone="Europe/Moscow",
        takes_new_clients=True,
    )
    browser = login(user)

    response = browser.post(f"/mailings/{mailing.id}/copy")

    db.session.expire_all()
    copy = db.session.scalars(db.select(Mailing).where(Mailing.id != mailing.id)).one()
    assert response.headers["Location"].endswith(f"/mailings/{copy.id}/edit")
    assert (copy.name, copy.message_id, copy.frequency, copy.timezone) == (
        "Spring (copy)",
        message.id,
        "weekly",
        "Europe/Moscow",
    )
    assert (copy.start_at, copy.end_at) == (mailing.start_at, mailing.end_at)
    assert client_ids_of(copy.id) == {client.id for client in clients}
    assert copy.takes_new_clients
    assert (copy.is_active, copy.disabled_by_id) == (False, user.id)
    assert copy.next_send_at == start  # ready for when it is enabled
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "A copy of “Spring”, with its clients" in page
    assert 'value="Spring (copy)"' in page

    # Ticking Active and saving sends it, to the same clients (kept, not ticked again).
    browser.post(
        f"/mailings/{copy.id}/edit",
        data=form_data(
            message, [], client_scope="keep", name="Spring again", start_at="2031-03-01T09:00"
        ),
    )
    db.session.expire_all()
    saved = db.session.get(Mailing, copy.id)
    assert (saved.name, saved.is_active) == ("Spring again", True)
    assert client_ids_of(copy.id) == {client.id for client in clients}
    assert client_ids_of(mailing.id) == {client.id for client in clients}


def test_a_copy_of_a_mailing_with_no_name_or_a_long_one_is_named_to_fit(
    login, user, message, clients
):
    unnamed = factories.make_mailing(user, message=message, clients=clients)
    long = factories.make_mailing(user, message=message, clients=clients, name="x" * 200)
    browser = login(user)

    browser.post(f"/mailings/{unnamed.id}/copy")
    browser.post(f"/mailings/{long.id}/copy")

    db.session.expire_all()
    names = db.session.scalars(
        db.select(Mailing.name).where(Mailing.id.not_in([unnamed.id, long.id]))
    ).all()
    assert sorted(names) == sorted(["Spring news (copy)", "x" * 192 + "… (copy)"])


def test_a_mailing_whose_schedule_has_passed_is_copied_and_its_times_are_asked_for_again(
    login, user, message, clients
):
    start = utcnow() - timedelta(days=60)
    mailing = factories.make_mailing(
        user, message=message, clients=clients, start_at=start, end_at=start + timedelta(days=1)
    )
    browser = login(user)
    copy_url = browser.post(f"/mailings/{mailing.id}/copy").headers["Location"]

    page = browser.post(
        copy_url,
        data=form_data(
            message,
            [],
            client_scope="keep",
            start_at="2020-01-01T09:00",
            end_at="2020-01-02T09:00",
            frequency="once",
        ),
    ).get_data(as_text=True)

    assert "The start has passed: this mailing would never send" in page
    db.session.expire_all()
    assert db.session.scalars(db.select(Mailing.is_active).order_by(Mailing.id)).all() == [
        True,
        False,
    ]


def test_a_mailing_a_manager_disabled_cannot_be_copied(login, user, manager, message, clients):
    mailing = factories.make_mailing(user, message=message, clients=clients)
    login(manager).post(f"/manager/mailings/{mailing.id}/disable")
    browser = login(user)
    assert "Make a copy" not in browser.get(f"/mailings/{mailing.id}").get_data(as_text=True)

    response = browser.post(f"/mailings/{mailing.id}/copy", follow_redirects=True)

    assert "A manager disabled this mailing; it cannot be copied." in response.get_data(
        as_text=True
    )
    assert db.session.scalar(db.select(db.func.count(Mailing.id))) == 1


def test_saving_as_active_does_not_undo_a_managers_disable(login, user, manager, message, clients):
    mailing = factories.make_mailing(user, message=message, clients=clients)
    login(manager).post(f"/manager/mailings/{mailing.id}/disable")

    response = login(user).post(
        f"/mailings/{mailing.id}/edit", data=form_data(message, clients, frequency="daily")
    )

    assert response.status_code == 200
    assert "only a manager can enable it again" in response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(Mailing, mailing.id)
    assert (stored.is_active, stored.frequency) == (False, "once")


def test_unticking_active_on_the_form_cancels_what_its_send_waits_to_send_as_disable_does(
    login, user, message, clients
):
    """Else a send waiting for a retry or the next day's quota went on once the mailing
    was enabled again, and its page said "Sending…" while it was off."""
    from mailer.delivery import dispatch
    from mailer.models import Delivery, Run

    mailing = factories.make_mailing(user, message=message, clients=clients)
    run_id = dispatch.start_forced_run(mailing.id)  # its emails wait for a worker

    login(user).post(
        f"/mailings/{mailing.id}/edit",
        data=form_data(message, clients, client_scope="keep", is_active=None),
    )

    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is False
    waiting = db.select(Delivery.status).where(Delivery.run_id == run_id)
    assert set(db.session.scalars(waiting)) == {"cancelled"}
    assert db.session.get(Run, run_id).finished_at is not None


def test_a_weekly_mailing_whose_start_has_passed_says_when_it_first_sends(
    login, user, message, clients
):
    """Its first send is a week after the start typed: it was said nowhere but the
    mailing's page, and "Mailing created." read as if it would send at once."""
    from zoneinfo import ZoneInfo

    typed = (utcnow() - timedelta(minutes=3)).astimezone(ZoneInfo("Europe/Moscow"))
    browser = login(user)

    created = browser.post(
        "/mailings/new",
        data=form_data(message, clients, start_at=f"{typed:%Y-%m-%dT%H:%M}"),
        follow_redirects=True,
    )

    first = db.session.scalar(db.select(Mailing.next_send_at))
    assert first > utcnow() + timedelta(days=6)
    assert user.timezone == "UTC"  # the flash says it in the viewer's zone
    assert (
        f"Mailing created. Its start has passed, so it first sends at {first:%Y-%m-%d %H:%M}."
        in html.unescape(created.text)
    )


def test_ticking_a_box_on_a_big_mailings_form_changes_that_client_only(
    login, user, message, monkeypatch
):
    """The form shows the owner's first clients as boxes. Ticking one on a mailing of
    12,500 clients used to save the ticked ones alone: 1 client, the rest gone unasked."""
    from mailer.mailings import mailing_queries

    monkeypatch.setattr(mailing_queries, "CLIENT_CHECKBOX_LIMIT", 2)
    anna, boris, cat, dan, eve = (
        factories.make_client(user, f"{name}@example.com", full_name=name.title())
        for name in ("anna", "boris", "cat", "dan", "eve")
    )
    mailing = factories.make_mailing(user, message=message, clients=[anna, cat, dan, eve])
    browser = login(user)

    page = browser.get(f"/mailings/{mailing.id}/edit").text
    browser.post(
        f"/mailings/{mailing.id}/edit",
        data=form_data(
            message,
            [boris],  # Boris ticked, Anna unticked: the two boxes shown
            client_shown=[str(anna.id), str(boris.id)],
            start_at="2031-03-01T09:00",
        ),
    )

    assert "changes only the clients shown: 3 other clients of this mailing stay in it." in page
    assert client_ids_of(mailing.id) == {boris.id, cat.id, dan.id, eve.id}


def test_unticking_every_box_shown_is_refused_only_when_no_client_would_be_left(
    login, user, message, monkeypatch
):
    from mailer.mailings import mailing_queries

    monkeypatch.setattr(mailing_queries, "CLIENT_CHECKBOX_LIMIT", 1)
    anna, boris = (factories.make_client(user, f"{n}@example.com") for n in ("anna", "boris"))
    both = factories.make_mailing(user, message=message, clients=[anna, boris])
    only_anna = factories.make_mailing(user, message=message, clients=[anna])
    browser = login(user)
    unticked = {"client_ids": [], "client_shown": [str(anna.id)], "start_at": "2031-03-01T09:00"}

    kept = browser.post(f"/mailings/{both.id}/edit", data=form_data(message, [], **unticked))
    refused = browser.post(
        f"/mailings/{only_anna.id}/edit", data=form_data(message, [], **unticked)
    )

    assert kept.status_code == 302
    assert client_ids_of(both.id) == {boris.id}
    assert "Choose at least one client." in refused.text
    assert client_ids_of(only_anna.id) == {anna.id}


def test_a_managers_stop_outlives_the_managers_account(login, user, manager, message, clients):
    from mailer.auth.services import delete_account

    mailing = factories.make_mailing(user, message=message, clients=clients)
    login(manager).post(f"/manager/mailings/{mailing.id}/disable")
    delete_account(manager)
    db.session.commit()
    browser = login(user)

    page = browser.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    response = browser.post(f"/mailings/{mailing.id}/enable", follow_redirects=True)

    assert "Disabled by a deleted user" in page
    assert f'action="/mailings/{mailing.id}/enable"' not in page
    assert "only a manager can enable it again" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is False


def test_enable_of_a_copy_whose_start_has_passed_is_refused_as_its_form_would(
    login, user, message, clients
):
    """A copy sends nothing until its times are checked: Enable skipped the check, and
    the copy became a completed mailing that never sent."""
    start = utcnow() - timedelta(days=3)
    mailing = factories.make_mailing(
        user, message=message, clients=clients, start_at=start, end_at=start + timedelta(days=1)
    )
    browser = login(user)
    copy_id = int(browser.post(f"/mailings/{mailing.id}/copy").headers["Location"].split("/")[-2])

    page = browser.post(f"/mailings/{copy_id}/enable", follow_redirects=True).get_data(as_text=True)

    assert "The start has passed: this mailing would never send. Choose a later start." in page
    assert "Mailing enabled." not in page
    db.session.expire_all()
    copy = db.session.get(Mailing, copy_id)
    assert (copy.is_active, copy.disabled_by_id) == (False, user.id)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/mailings/{id}"),
        ("get", "/mailings/{id}/edit"),
        ("post", "/mailings/{id}/edit"),
        ("post", "/mailings/{id}/delete"),
        ("post", "/mailings/{id}/disable"),
        ("post", "/mailings/{id}/enable"),
        ("post", "/mailings/{id}/copy"),
    ],
)
def test_another_users_mailing_is_not_found(login, user, other_user, method, path):
    mailing = factories.make_mailing(other_user)
    response = getattr(login(user), method)(path.format(id=mailing.id))
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).is_active is True


def test_a_manager_cannot_edit_or_delete_someone_elses_mailing(login, manager, other_user):
    mailing = factories.make_mailing(other_user)
    browser = login(manager)
    assert browser.get(f"/mailings/{mailing.id}/edit").status_code == 404
    assert browser.post(f"/mailings/{mailing.id}/delete").status_code == 404


def test_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get("/mailings/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_named_mailing_is_called_by_its_name_and_one_without_by_its_subject(
    login, user, message, clients, manager
):
    browser = login(user)
    browser.post("/mailings/new", data=form_data(message, clients, name="  Spring customers  "))
    browser.post("/mailings/new", data=form_data(message, clients, frequency="daily"))
    named, unnamed = db.session.scalars(db.select(Mailing).order_by(Mailing.id)).all()
    assert (named.name, unnamed.name) == ("Spring customers", "")

    detail = browser.get(f"/mailings/{named.id}").text
    assert '<h1 class="h3 mb-0">Spring customers ' in detail
    assert f'title="Preview it">{message.subject}</a></dd>' in detail  # its message, as before
    assert f'<h1 class="h3 mb-0">{message.subject} ' in browser.get(f"/mailings/{unnamed.id}").text
    for page in (browser.get("/mailings/").text, browser.get("/reports/").text):
        assert "Spring customers</a>" in page
    assert "Spring customers" in login(manager).get("/manager/mailings").text
    edit_form = login(user).get(f"/mailings/{named.id}/edit").text
    assert 'value="Spring customers"' in edit_form


def test_a_name_too_long_is_refused_with_the_input_kept(login, user, message, clients):
    page = refused(login(user), form_data(message, clients, name="N" * 201))
    assert "At most 200 characters." in page
    assert 'value="' + "N" * 201 + '"' in page


def test_a_mailing_that_takes_new_clients_is_saved_shown_and_unticked_on_edit(
    login, user, message, clients
):
    browser = login(user)
    browser.post("/mailings/new", data=form_data(message, clients[:1], takes_new_clients="y"))
    mailing = db.session.scalar(db.select(Mailing))
    assert mailing.takes_new_clients

    assert "and those you add later" in browser.get(f"/mailings/{mailing.id}").text
    edit = browser.get(f"/mailings/{mailing.id}/edit").text
    assert re.search(r'<input[^>]*checked[^>]*name="takes_new_clients"', edit) or re.search(
        r'<input[^>]*name="takes_new_clients"[^>]*checked', edit
    )
    browser.post(f"/mailings/{mailing.id}/edit", data=form_data(message, [], client_scope="keep"))
    db.session.expire_all()
    assert not db.session.get(Mailing, mailing.id).takes_new_clients
    assert "and those you add later" not in browser.get(f"/mailings/{mailing.id}").text
