"""List and detail pages send the same number of SQL queries for few rows as for many."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailer.models import utcnow
from tests import factories


def grow(owner, *, mailings: int, runs: int, clients: int, batch: str = "a"):
    """Mailings of `owner`, each with runs, deliveries and attempts; returns the first one."""
    people = [factories.make_client(owner, f"{batch}{n}@example.com") for n in range(clients)]
    first = None
    for index in range(mailings):
        mailing = factories.make_mailing(
            owner, message=factories.make_message(owner, f"Message {index}"), clients=people
        )
        first = first or mailing
        for slot in range(runs):
            run = factories.make_run(mailing, scheduled_for=utcnow() - timedelta(days=slot))
            for person in people:
                factories.make_delivery(run, person, status="sent" if slot % 2 else "failed")
                factories.make_attempt(run, person, success=bool(slot % 2))
    return first


PAGES = [
    "/mailings/",
    "/mailings/{id}",
    "/mailings/{id}/edit",
    "/mailings/new",
    "/attempts/",
    "/attempts/?status=success&mailing={id}",
    "/reports/",
]


@pytest.mark.parametrize("path", PAGES)
def test_owner_pages_run_constant_queries(login, user, other_user, count_queries, path):
    small = grow(user, mailings=1, runs=2, clients=1)
    large = grow(other_user, mailings=6, runs=3, clients=4)

    small_path, large_path = path.format(id=small.id), path.format(id=large.id)
    as_user, as_other = login(user), None
    small_response, few = count_queries(lambda: as_user.get(small_path))
    as_other = login(other_user)
    large_response, many = count_queries(lambda: as_other.get(large_path))

    assert small_response.status_code == large_response.status_code == 200
    assert len(many) == len(few), "\n".join(many)


@pytest.mark.parametrize("path", ["/manager/mailings", "/manager/attempts"])
def test_manager_pages_run_constant_queries(login, manager, user, count_queries, path):
    grow(user, mailings=1, runs=2, clients=1)
    _, few = count_queries(lambda: login(manager).get(path))
    grow(user, mailings=5, runs=3, clients=4, batch="b")
    _, many = count_queries(lambda: login(manager).get(path))
    assert len(many) == len(few), "\n".join(many)
