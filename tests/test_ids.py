"""An id no row could have (beyond an INTEGER column, "²", negative) finds nothing, on
every database: a 404 or an empty filter, never a 500 (SQLite cannot compare a number
beyond 2**63 with a column at all)."""

from __future__ import annotations

import re

import pytest

from tests import factories

HUGE = "99999999999999999999"


def test_every_page_of_an_id_beyond_any_row_is_not_found(app, login):
    person = factories.make_user("both@example.com", roles=["manager"])
    browser = login(person)
    paths = [
        re.sub(r"<int:\w+>", HUGE, rule.rule)
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and "<int:" in rule.rule
    ]
    paths = [re.sub(r"<\w+>", "x", path) for path in paths]
    assert len(paths) >= 10

    answers = {path: browser.get(path).status_code for path in paths}

    assert set(answers.values()) == {404}, answers


@pytest.mark.parametrize(
    "path",
    [
        f"/clients/?mailing={HUGE}",
        "/clients/?mailing=²",
        "/clients/?mailing=-1",
    ],
)
def test_a_filter_by_a_mailing_no_row_could_be_is_not_found(login, user, path):
    assert login(user).get(path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        f"/messages/new?copy={HUGE}",
        f"/attempts/?mailing={HUGE}&run={HUGE}&client={HUGE}",
        "/attempts/?client=²",
        f"/manager/attempts?mailing={HUGE}",
    ],
)
def test_a_query_with_an_id_no_row_could_be_finds_nothing(login, path):
    person = factories.make_user("both@example.com", roles=["manager"])
    assert login(person).get(path).status_code == 200


def test_an_export_for_a_client_no_row_could_be_is_whole_and_empty(login, user):
    exported = login(user).get(f"/attempts.csv?client={HUGE}")

    assert exported.status_code == 200
    lines = exported.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 1  # the header alone


def test_a_form_naming_a_client_no_row_could_be_is_refused_not_a_crash(login, user):
    message = factories.make_message(user, "Hi")
    mailing = {
        "message_id": str(message.id),
        "client_ids": [HUGE],
        "start_at": "2030-01-01T09:00",
        "end_at": "2030-02-01T09:00",
        "frequency": "once",
        "timezone": "UTC",
        "is_active": "y",
    }

    page = login(user).post("/mailings/new", data=mailing)

    assert page.status_code == 200  # the form again, with its error
