"""The client search and the managers' user search ignore case in every script, on SQLite
(a Unicode lower() per connection) as on PostgreSQL."""

from __future__ import annotations

import pytest

from tests import factories

PEOPLE = [
    ("anna@example.com", "Анна Иванова"),
    ("joerg@example.com", "Jörg Äßler"),
    ("boris@example.com", "Boris Petrov"),
]


@pytest.fixture(params=["the client list", "the managers' users"])
def search(request, login, user, manager):
    """`search(text)`: the page of a search screen holding PEOPLE, the owner's clients or
    the managers' users."""
    if request.param == "the client list":
        for email, name in PEOPLE:
            factories.make_client(user, email, full_name=name)
        browser, path = login(user), "/clients/"
    else:
        for email, name in PEOPLE:
            factories.make_user(email, full_name=name)
        browser, path = login(manager), "/manager/users"
    return lambda text: browser.get(path, query_string={"q": text}).text


@pytest.mark.parametrize(
    ("text", "found"),
    [
        *((text, "anna@example.com") for text in ("анна", "АННА", "аННа", "иВАНОВА", "анна ив")),
        *((text, "joerg@example.com") for text in ("äßler", "ÄßLER", "jÖrg", "JÖRG ÄẞLER")),
        ("борис", None),
    ],
)
def test_a_name_is_found_however_its_letters_are_typed(search, text, found):
    page = search(text)

    shown = [email for email, _name in PEOPLE if email in page]
    assert shown == ([found] if found else [])
