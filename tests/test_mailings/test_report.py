"""The report page: per-mailing figures and totals on known data, over a period of days,
and as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from mailer.delivery import dispatch, sender
from mailer.extensions import db
from mailer.mailings import report_queries
from mailer.models import Mailing
from tests import factories


class _Table(HTMLParser):
    """The report's table as a screen shows it: on a desktop the phone-only lines
    (`d-md-none`) are hidden, on a phone the desktop-only columns (`d-none`)."""

    def __init__(self, *, phone: bool):
        super().__init__()
        self.hidden = "d-none" if phone else "d-md-none"
        self.headers: list[str] = []
        self.rows: dict[int, list[str]] = {}
        self._open: list[tuple[str, bool]] = []  # (tag, hidden) of each element we are in
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        hidden = self.hidden in (attrs.get("class") or "").split()
        self._open.append((tag, hidden or any(h for _, h in self._open)))
        if tag == "tr" and "data-mailing" in attrs:
            self._row = self.rows.setdefault(int(attrs["data-mailing"]), [])
        elif tag in ("th", "td") and not self._open[-1][1]:
            self._cell = []

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass
        if tag in ("th", "td") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            (self.headers if tag == "th" else self._row).append(text)
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None and not self._open[-1][1]:
            self._cell.append(data)


def figures(page: str, mailing_id: int, *, phone: bool = False) -> dict[str, str]:
    """A mailing's row, each cell under its column's heading, as a desktop (or a phone) shows it."""
    table = _Table(phone=phone)
    table.feed(re.search(r'<table[^>]*id="report".*?</table>', page, re.S).group(0))
    return dict(zip(table.headers, table.rows[mailing_id], strict=True))


def totals(page: str) -> list[int]:
    return [int(value) for value in re.findall(r'data-total="\d">(\d+)<', page)]


def test_report_counts_what_became_of_each_mailings_emails_and_its_attempts(
    login, user, other_user
):
    anna = factories.make_client(user, "anna@example.com")
    boris = factories.make_client(user, "boris@example.com")
    cleo = factories.make_client(user, "cleo@example.com")
    news = factories.make_mailing(user, message=factories.make_message(user, "News"))
    quiet = factories.make_mailing(user, message=factories.make_message(user, "Quiet"))
    first = factories.make_run(news, scheduled_for=datetime(2030, 1, 1, 9, tzinfo=UTC))
    second = factories.make_run(news, scheduled_for=datetime(2030, 1, 2, 9, tzinfo=UTC))
    factories.make_delivery(first, anna, status="sent")
    factories.make_attempt(first, anna, success=True)
    factories.make_delivery(first, boris, status="failed")
    factories.make_attempt(first, boris, success=False)
    factories.make_attempt(first, boris, success=False)  # the retry
    factories.make_delivery(first, cleo, status="cancelled")  # never tried
    factories.make_delivery(second, anna, status="sent")
    factories.make_attempt(second, anna, success=True)
    # Someone else's numbers never leak into the report.
    stranger = factories.make_client(other_user, "x@example.com")
    theirs = factories.make_run(factories.make_mailing(other_user))
    factories.make_delivery(theirs, stranger, status="cancelled")

    page = login(user).get("/reports/").get_data(as_text=True)

    assert figures(page, news.id) == {
        "Mailing": "News",
        "Status": "created",
        "Runs": "2",
        "Deliveries": "4",
        "Sent": "2",
        "Failed": "1",
        "Cancelled": "1",
        "Attempts": "4",
        "Last run": "2030-01-02 09:00",
    }
    assert list(figures(page, quiet.id).values()) == ["Quiet", "created"] + ["0"] * 6 + ["—"]
    # mailings, runs, deliveries, sent, failed, cancelled, attempts
    assert totals(page) == [2, 2, 4, 2, 1, 1, 4]


def test_report_shows_the_emails_a_mailing_disabled_mid_run_never_sent(
    app, login, user, monkeypatch
):
    """The seed's report said "1 run, 2 sends, 2 successes, 0 failures" here, silent
    about the 4 clients who never got the email."""
    monkeypatch.setitem(app.config, "SEND_BATCH_SIZE", 2)
    people = [factories.make_client(user, f"c{n}@example.com") for n in range(6)]
    mailing = factories.make_mailing(
        user, message=factories.make_message(user, "Sale"), clients=people
    )
    run_id = dispatch.start_forced_run(mailing.id)
    first, *rest = dispatch.run_batches(run_id)
    sender.send_batch(run_id, first)
    db.session.execute(db.update(Mailing).where(Mailing.id == mailing.id).values(is_active=False))
    db.session.commit()
    for batch in rest:  # the worker finds the mailing disabled
        sender.send_batch(run_id, batch)

    page = login(user).get("/reports/").get_data(as_text=True)

    row = figures(page, mailing.id)
    assert (row["Status"], row["Deliveries"], row["Sent"]) == ("disabled", "6", "2")
    assert (row["Failed"], row["Cancelled"], row["Attempts"]) == ("0", "4", "2")
    assert totals(page)[2:6] == [6, 2, 0, 4]  # deliveries, sent, failed, cancelled
    assert "pending" not in row["Status"]  # the run has finished: nothing left to send


def test_report_says_how_many_emails_are_still_to_send_or_unknown(login, user):
    people = [factories.make_client(user, f"c{n}@example.com") for n in range(5)]
    mailing = factories.make_mailing(user, message=factories.make_message(user, "Busy"))
    # Not finished: still sending.
    run = factories.make_run(mailing, scheduled_for=datetime(2030, 1, 2, 9, tzinfo=UTC))
    factories.make_delivery(run, people[0], status="sent")
    factories.make_delivery(run, people[1], status="unknown")
    for person in people[2:]:
        factories.make_delivery(run, person, status="pending")

    page = login(user).get("/reports/").get_data(as_text=True)

    assert figures(page, mailing.id)["Status"] == "created 3 pending · 1 unknown"
    phone = figures(page, mailing.id, phone=True)["Mailing"]
    assert phone.endswith("0 cancelled 3 pending · 1 unknown")
    assert re.search(r'data-count="pending">3<.*data-count="unknown">1<', page, re.S)


def test_report_on_a_phone_keeps_the_mailing_and_what_became_of_its_emails(login, user):
    client = factories.make_client(user, "anna@example.com")
    mailing = factories.make_mailing(user, message=factories.make_message(user, "News"))
    run = factories.make_run(mailing, scheduled_for=datetime(2030, 1, 2, 9, tzinfo=UTC))
    factories.make_delivery(run, client, status="cancelled")

    page = login(user).get("/reports/").get_data(as_text=True)

    assert figures(page, mailing.id, phone=True) == {
        "Mailing": "News created · Last run: 2030-01-02 09:00. 0 sent · 0 failed · 1 cancelled"
    }


def test_report_page_past_the_last_is_not_found(login, user):
    factories.make_mailing(user)
    browser = login(user)

    assert browser.get("/reports/?page=1").status_code == 200
    past = browser.get("/reports/?page=999")
    assert past.status_code == 404
    assert "Nothing to report yet." not in past.get_data(as_text=True)


def test_report_adds_up_in_two_queries_however_many_runs(app, user, count_queries):
    client = factories.make_client(user, "anna@example.com")
    for _ in range(3):
        run = factories.make_run(factories.make_mailing(user))
        factories.make_delivery(run, client, status="sent")
        factories.make_attempt(run, client)
    db.session.refresh(user)

    (rows, summed), statements = count_queries(lambda: report_queries.report(user))

    assert len(statements) == 2
    assert (len(rows), summed.runs, summed.sent, summed.attempts) == (3, 3, 3, 3)


def test_report_of_a_new_user_says_what_to_do(login, user):
    page = login(user).get("/reports/").get_data(as_text=True)
    assert totals(page) == [0, 0, 0, 0, 0, 0, 0]
    assert "Nothing to report yet." in page


def _two_runs(user):
    """News, sent once at 22:00 UTC on 1 January 2030 (2 January in Moscow), once a day
    later; and Quiet, never sent."""
    anna = factories.make_client(user, "anna@example.com")
    news = factories.make_mailing(user, message=factories.make_message(user, "News"))
    quiet = factories.make_mailing(user, message=factories.make_message(user, "Quiet"))
    for day in (1, 2):
        run = factories.make_run(news, scheduled_for=datetime(2030, 1, day, 22, tzinfo=UTC))
        factories.make_delivery(run, anna, status="sent")
        factories.make_attempt(run, anna, success=True)
    return news, quiet


def test_report_counts_the_runs_scheduled_on_the_days_asked_in_the_users_time_zone(login, user):
    user.timezone = "Europe/Moscow"
    news, quiet = _two_runs(user)
    browser = login(user)

    page = browser.get("/reports/?date_from=2030-01-02&date_to=2030-01-02").text
    later = browser.get("/reports/?date_from=2030-01-03").text

    assert figures(page, news.id)["Runs"] == "1"
    assert figures(page, news.id)["Last run"] == "2030-01-02 01:00"  # 22:00 UTC the day before
    assert figures(page, quiet.id)["Runs"] == "0"
    assert totals(page) == [2, 1, 1, 1, 0, 0, 1]  # every mailing; the runs of that day
    assert figures(later, news.id)["Last run"] == "2030-01-03 01:00"
    assert 'href="/reports.csv?date_from=2030-01-02&amp;date_to=2030-01-02"' in page


def test_report_of_days_with_no_run_says_so(login, user):
    news, _quiet = _two_runs(user)
    browser = login(user)

    page = browser.get("/reports/?date_from=2031-01-01").text

    assert "No run was scheduled on these days." in page
    assert figures(page, news.id)["Sent"] == "0"
    assert "No run was scheduled" not in browser.get("/reports/").text


def test_report_dates_that_make_no_sense_are_said_and_left_out(login, user):
    news, _quiet = _two_runs(user)
    browser = login(user)

    bad = browser.get("/reports/?date_from=yesterday")
    backwards = browser.get("/reports/?date_from=2030-01-02&date_to=2030-01-01").text

    assert bad.status_code == 200
    assert "Not a valid date value." in bad.text
    assert figures(bad.text, news.id)["Runs"] == "2"  # the bad date bounds nothing
    assert "This is before the “From” date." in backwards
    # From 2030-01-02 on, the To left out: the second run (applied, the To matched none).
    assert figures(backwards, news.id)["Runs"] == "1"


def test_report_pages_keep_the_days_asked(login, user, monkeypatch):
    monkeypatch.setattr(report_queries, "PER_PAGE", 1)
    _two_runs(user)

    page = login(user).get("/reports/?date_from=2030-01-02").text

    assert 'href="/reports/?page=2&amp;date_from=2030-01-02"' in page


def test_report_exports_every_mailings_row_over_the_days_asked(login, user, other_user):
    news, quiet = _two_runs(user)
    factories.make_mailing(other_user, message=factories.make_message(other_user, "Theirs"))
    browser = login(user)

    response = browser.get("/reports.csv?date_from=2030-01-02", buffered=True)

    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [row["mailing"] for row in rows] == ["Quiet", "News"]  # newest first, theirs left out
    assert rows[1] == {
        "mailing_id": str(news.id),
        "mailing": "News",
        "status": "created",
        "runs": "1",
        "deliveries": "1",
        "sent": "1",
        "failed": "0",
        "cancelled": "0",
        "unknown": "0",
        "pending": "0",
        "attempts": "1",
        "last_run": "2030-01-02T22:00:00+00:00",
    }
    assert rows[0]["runs"] == "0"
    assert rows[0]["last_run"] == ""
