"""The client search ignores case in every script, on SQLite as on PostgreSQL."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from mailer.mailings import client_queries
from tests import factories


@pytest.fixture
def clients(user):
    factories.make_client(user, "anna@example.com", full_name="Анна Иванова")
    factories.make_client(user, "joerg@example.com", full_name="Jörg Äßler")
    factories.make_client(user, "boris@example.com", full_name="Boris Petrov")


@pytest.mark.parametrize("search", ["анна", "АННА", "Анна", "аННа", "иВАНОВА", "анна ив"])
def test_client_list_finds_a_cyrillic_name_typed_in_any_case(login, user, clients, search):
    page = login(user).get("/clients/", query_string={"q": search}).text
    assert "anna@example.com" in page
    assert "joerg@example.com" not in page
    assert "boris@example.com" not in page


@pytest.mark.parametrize("search", ["äßler", "ÄßLER", "jÖrg", "JÖRG ÄẞLER"])
def test_client_list_finds_a_german_name_typed_in_any_case(login, user, clients, search):
    page = login(user).get("/clients/", query_string={"q": search}).text
    assert "joerg@example.com" in page
    assert "anna@example.com" not in page
    assert "boris@example.com" not in page


def test_a_lower_case_cyrillic_search_still_matches_only_its_clients(login, user, clients):
    assert "No clients match" in login(user).get("/clients/", query_string={"q": "борис"}).text


def test_a_mailing_chooses_clients_by_a_cyrillic_search_in_any_case(user, clients):
    # "Clients matching a search" on the mailing form selects with this same query.
    for search in ("анна", "АННА", "аННа"):
        found = client_queries.clients_query(user, search=search).all()
        assert [client.email for client in found] == ["anna@example.com"]
    db.session.rollback()
