"""The managers' user search ignores case in every script, on SQLite as on PostgreSQL."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def people(app):
    factories.make_user("anna@example.com", full_name="Анна Иванова")
    factories.make_user("joerg@example.com", full_name="Jörg Äßler")
    factories.make_user("boris@example.com", full_name="Boris Petrov")


@pytest.mark.parametrize("search", ["анна", "АННА", "Анна", "аННа", "иВАНОВА", "анна ив"])
def test_users_screen_finds_a_cyrillic_name_typed_in_any_case(login, manager, people, search):
    page = login(manager).get("/manager/users", query_string={"q": search}).text
    assert "anna@example.com" in page
    assert "joerg@example.com" not in page
    assert "boris@example.com" not in page


@pytest.mark.parametrize("search", ["äßler", "ÄßLER", "jÖrg", "JÖRG ÄẞLER"])
def test_users_screen_finds_a_german_name_typed_in_any_case(login, manager, people, search):
    page = login(manager).get("/manager/users", query_string={"q": search}).text
    assert "joerg@example.com" in page
    assert "anna@example.com" not in page
    assert "boris@example.com" not in page


def test_users_screen_finds_no_one_for_a_cyrillic_name_nobody_has(login, manager, people):
    page = login(manager).get("/manager/users", query_string={"q": "борис"}).text
    assert "No user matches" in page


@pytest.mark.parametrize("search", ["%", "_", "0%_s"])
def test_users_screen_reads_percent_and_underscore_as_typed(login, manager, people, search):
    factories.make_user("100%_sure@example.com", full_name="Percent")

    page = login(manager).get("/manager/users", query_string={"q": search}).text

    assert "100%_sure@example.com" in page
    assert "anna@example.com" not in page
