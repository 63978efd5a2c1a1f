"""Mailing services: status and next send time, disable/enable, ownership across models."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mailer.extensions import db
from mailer.mailings import mailing_services as services
from mailer.models import Mailing
from tests import factories

NOW = datetime(2030, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def message(user):
    return factories.make_message(user)


@pytest.fixture
def anna(user):
    return factories.make_client(user, "anna@example.com", full_name="Анна")


def data(message, clients, **overrides) -> services.MailingData:
    values = {
        "message_id": message.id,
        "clients": services.ClientSelection(ids=[client.id for client in clients]),
        "start_at": NOW + timedelta(hours=1),
        "end_at": NOW + timedelta(days=60),
        "frequency": "daily",
        "timezone": "UTC",
    }
    values.update(overrides)
    return services.MailingData(**values)


def test_new_mailing_is_created_and_first_sends_at_its_start(user, message, anna):
    mailing = services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    assert mailing.status == "created"
    assert mailing.next_send_at == NOW + timedelta(hours=1)


def test_mailing_starting_long_ago_first_sends_at_the_next_slot_not_a_burst(user, message, anna):
    start = NOW - timedelta(days=20, hours=-1)  # 13:00 twenty days ago
    mailing = services.create_mailing(
        owner=user, data=data(message, [anna], start_at=start), now=NOW
    )
    assert mailing.next_send_at == datetime(2030, 5, 10, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "field", "refusal"),
    [
        (
            {"frequency": "once", "start_at": NOW - timedelta(days=2)},
            "start_at",
            "The start has passed",
        ),
        (
            {"start_at": NOW - timedelta(days=9), "end_at": NOW - timedelta(days=2)},
            "end_at",
            "The end has passed",
        ),
        (
            {
                "frequency": "monthly",
                "start_at": NOW - timedelta(days=9),
                "end_at": NOW + timedelta(days=2),
            },
            "end_at",
            "No send time is left before the end",
        ),
    ],
    ids=["once, its start passed", "its end passed", "no monthly send before its end"],
)
def test_a_new_mailing_with_no_send_left_is_refused_at_the_field_to_change(
    user, message, anna, schedule, field, refusal
):
    with pytest.raises(services.MailingError, match=refusal) as refused:
        services.create_mailing(owner=user, data=data(message, [anna], **schedule), now=NOW)
    assert refused.value.field == field


def test_a_mailing_that_has_sent_with_no_send_left_is_completed(user, message, anna):
    mailing = services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    factories.make_run(mailing)
    past = data(message, [anna], frequency="once", start_at=NOW - timedelta(days=2))
    services.update_mailing(mailing=mailing, data=past, now=NOW)
    assert mailing.status == "completed"
    assert mailing.next_send_at is None


def test_a_mailing_that_never_sent_cannot_be_edited_to_no_send_left(user, message, anna):
    mailing = services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    past = data(message, [anna], frequency="once", start_at=NOW - timedelta(days=2))
    with pytest.raises(services.MailingError, match="The start has passed"):
        services.update_mailing(mailing=mailing, data=past, now=NOW)


def test_you_cannot_send_to_all_your_clients_before_you_have_any(user, message):
    everyone = replace(data(message, []), clients=services.ClientSelection(scope="all"))
    with pytest.raises(services.MailingError, match="You have no clients yet"):
        services.create_mailing(owner=user, data=everyone, now=NOW)


def test_editing_a_mailing_that_has_sent_keeps_it_started(user, message, anna):
    mailing = services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    factories.make_run(mailing)
    services.update_mailing(
        mailing=mailing, data=data(message, [anna], frequency="weekly"), now=NOW
    )
    assert mailing.status == "started"


@pytest.mark.parametrize("change", ["edit", "disable and enable"])
def test_a_change_just_after_the_start_sent_does_not_set_the_start_again(
    user, message, anna, change
):
    """In the minute's grace after a start, the start was set again though it had its run:
    a second run for it was refused, and the mailing sent no more."""
    start = NOW - timedelta(seconds=20)
    mailing = services.create_mailing(
        owner=user, data=data(message, [anna], start_at=start), now=start
    )
    factories.make_run(mailing, scheduled_for=start)  # dispatch took the start
    mailing.status = "started"

    if change == "edit":
        renamed = data(message, [anna], start_at=start, name="Renamed")
        services.update_mailing(mailing=mailing, data=renamed, now=NOW)
    else:
        services.disable_mailing(mailing=mailing, by=user, now=NOW)
        services.enable_mailing(mailing=mailing, by=user, now=NOW)

    assert mailing.next_send_at == start + timedelta(days=1)
    assert mailing.status == "started"


@pytest.mark.parametrize("frequency", ["daily", "once"])
def test_an_edit_keeps_a_send_that_is_due_and_not_taken_yet(user, message, anna, frequency):
    """The scheduler is away (or its tick a few seconds off): the mailing's page says the
    send goes out once it runs again, and an edit that keeps the schedule keeps the send.
    A daily one lost it for tomorrow; a "once" one was refused, its start passed."""
    start = NOW - timedelta(minutes=20)
    mailing = services.create_mailing(
        owner=user, data=data(message, [anna], start_at=start, frequency=frequency), now=start
    )
    renamed = data(message, [anna], start_at=start, frequency=frequency, name="Renamed")

    services.update_mailing(mailing=mailing, data=renamed, now=NOW)

    assert (mailing.name, mailing.next_send_at) == ("Renamed", start)


def test_an_edit_that_moves_the_schedule_drops_the_send_that_was_due(user, message, anna):
    start = NOW - timedelta(minutes=20)
    mailing = services.create_mailing(
        owner=user, data=data(message, [anna], start_at=start), now=start
    )
    later = data(message, [anna], start_at=start + timedelta(minutes=5))  # 11:45, daily

    services.update_mailing(mailing=mailing, data=later, now=NOW)

    assert mailing.next_send_at == start + timedelta(days=1, minutes=5)


def test_forged_client_of_another_user_is_refused(user, other_user, message, anna):
    stranger = factories.make_client(other_user, "stranger@example.com")
    with pytest.raises(services.MailingError) as refused:
        services.create_mailing(owner=user, data=data(message, [anna, stranger]), now=NOW)
    assert refused.value.field == "client_ids"
    assert Mailing.query.count() == 0


def test_forged_message_of_another_user_is_refused(user, other_user, anna):
    foreign = factories.make_message(other_user)
    with pytest.raises(services.MailingError) as refused:
        services.create_mailing(owner=user, data=data(foreign, [anna]), now=NOW)
    assert refused.value.field == "message_id"


def test_editing_cannot_attach_another_users_client(user, other_user, message, anna):
    mailing = services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    db.session.commit()
    stranger = factories.make_client(other_user, "stranger@example.com")
    with pytest.raises(services.MailingError):
        services.update_mailing(mailing=mailing, data=data(message, [stranger]), now=NOW)


def test_end_must_be_after_start(user, message, anna):
    with pytest.raises(services.MailingError) as refused:
        services.create_mailing(
            owner=user, data=data(message, [anna], end_at=NOW - timedelta(days=1)), now=NOW
        )
    assert refused.value.field == "end_at"


def test_disabling_records_who_and_when(user, manager, message, anna):
    mailing = services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    services.disable_mailing(mailing=mailing, by=manager, now=NOW)
    assert mailing.is_active is False
    assert mailing.disabled_by == manager
    assert mailing.disabled_at == NOW


def test_enabling_after_a_pause_sends_from_now_on(user, message, anna):
    start = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
    mailing = services.create_mailing(
        owner=user, data=data(message, [anna], start_at=start), now=start
    )
    services.disable_mailing(mailing=mailing, by=user, now=start + timedelta(hours=1))

    services.enable_mailing(mailing=mailing, by=user, now=NOW)

    assert mailing.is_active is True
    assert mailing.disabled_by is None
    assert mailing.disabled_at is None
    # Nine daily slots were missed; the next send is tomorrow's 09:00, not a burst.
    assert mailing.next_send_at == datetime(2030, 5, 11, 9, 0, tzinfo=UTC)


def test_enabling_after_the_end_leaves_it_completed(user, message, anna):
    mailing = services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    factories.make_run(mailing)  # it sent
    services.disable_mailing(mailing=mailing, by=user, now=NOW)
    services.enable_mailing(mailing=mailing, by=user, now=NOW + timedelta(days=90))
    assert mailing.status == "completed"
    assert mailing.next_send_at is None


def test_enabling_a_mailing_that_never_sent_after_its_end_is_refused(user, message, anna):
    mailing = services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    services.disable_mailing(mailing=mailing, by=user, now=NOW)
    with pytest.raises(services.MailingError, match="would never send"):
        services.enable_mailing(mailing=mailing, by=user, now=NOW + timedelta(days=90))


def shown_mailings(response) -> int:
    return int(re.search(r'data-count="mailings">\s*(\d+)', response.get_data(as_text=True))[1])


def test_creating_a_mailing_updates_the_owners_home_page_counts(client, login, user, message, anna):
    assert shown_mailings(login(user).get("/")) == 0  # now cached
    services.create_mailing(owner=user, data=data(message, [anna]), now=NOW)
    db.session.commit()
    assert shown_mailings(client.get("/")) == 1
