"""The managers' user search reads what was typed (its case: tests/test_search_case.py)."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.mark.parametrize("search", ["%", "_", "0%_s"])
def test_users_screen_reads_percent_and_underscore_as_typed(login, manager, search):
    factories.make_user("anna@example.com", full_name="Anna")
    factories.make_user("100%_sure@example.com", full_name="Percent")

    page = login(manager).get("/manager/users", query_string={"q": search}).text

    assert "100%_sure@example.com" in page
    assert "anna@example.com" not in page


def test_a_page_past_the_last_is_not_found_not_nobody_registered(login, manager):
    browser = login(manager)
    assert browser.get("/manager/users?page=1").status_code == 200
    answer = browser.get("/manager/users?page=999")
    assert answer.status_code == 404
    assert "Nobody has registered yet" not in answer.text
