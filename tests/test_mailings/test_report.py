"""The report page: per-mailing figures and totals on known data."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests import factories


def figures(page: str, mailing_id: int) -> list[str]:
    row = re.search(rf'<tr data-mailing="{mailing_id}">(.*?)</tr>', page, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)]


def totals(page: str) -> list[int]:
    return [int(value) for value in re.findall(r'data-total="\d">(\d+)<', page)]


def test_report_counts_runs_sends_successes_failures_and_last_run(login, user, other_user):
    anna = factories.make_client(user, "anna@example.com")
    boris = factories.make_client(user, "boris@example.com")
    news = factories.make_mailing(user, message=factories.make_message(user, "News"))
    quiet = factories.make_mailing(user, message=factories.make_message(user, "Quiet"))
    first = factories.make_run(news, scheduled_for=datetime(2030, 1, 1, 9, tzinfo=UTC))
    second = factories.make_run(news, scheduled_for=datetime(2030, 1, 2, 9, tzinfo=UTC))
    factories.make_attempt(first, anna, success=True)
    factories.make_attempt(first, boris, success=False)
    factories.make_attempt(first, boris, success=True)  # the retry
    factories.make_attempt(second, anna, success=True)
    # Someone else's numbers never leak into the report.
    stranger = factories.make_client(other_user, "x@example.com")
    theirs = factories.make_run(factories.make_mailing(other_user))
    factories.make_attempt(theirs, stranger, success=False)

    page = login(user).get("/reports/").get_data(as_text=True)

    assert figures(page, news.id) == ["News", "created", "2", "4", "3", "1", "2030-01-02 09:00"]
    assert figures(page, quiet.id) == ["Quiet", "created", "0", "0", "0", "0", "—"]
    # mailings, runs, sends, successes, failures
    assert totals(page) == [2, 2, 4, 3, 1]


def test_report_of_a_new_user_says_what_to_do(login, user):
    page = login(user).get("/reports/").get_data(as_text=True)
    assert totals(page) == [0, 0, 0, 0, 0]
    assert "Nothing to report yet." in page
