"""The mailing form's "clients matching a search" ignores case in every script too
(the search screens: tests/test_search_case.py)."""

from __future__ import annotations

from mailer.mailings import client_queries
from tests import factories


def test_a_mailing_chooses_clients_by_a_cyrillic_search_in_any_case(user):
    factories.make_client(user, "anna@example.com", full_name="Анна Иванова")
    factories.make_client(user, "boris@example.com", full_name="Boris Petrov")

    for search in ("анна", "АННА", "аННа"):
        found = client_queries.clients_query(user, search=search).all()
        assert [client.email for client in found] == ["anna@example.com"]
