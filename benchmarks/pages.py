"""Timing pages through the Flask test client, logged in: shared by `make bench`'s scripts.

Each page is requested once to warm up, then REQUESTS times, or fewer when
they take long (at least MIN_REQUESTS, then until PAGE_BUDGET_SECONDS is
spent), so a slow page cannot make the benchmark run for minutes.
"""

from __future__ import annotations

import statistics
import time

from sqlalchemy import event

TARGET_MS = 100
REQUESTS = 20
MIN_REQUESTS = 3
PAGE_BUDGET_SECONDS = 5.0


def logged_in(app, user_id: int):
    """A test client with `user_id` logged in (a login of theirs, its key in the session)."""
    from mailer.auth import sessions
    from mailer.extensions import db
    from mailer.models import User

    with app.app_context():
        user = db.session.get(User, user_id)
        sessions.start(user, user_agent="mailer bench", ip="127.0.0.1")
        db.session.commit()
        session_id = user.get_id()
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    return browser


def time_pages(app, browser, pages: dict[str, str]) -> list[str]:
    """Print one line per page (median time, queries, verdict); the labels that missed."""
    missed = []
    for label, path in pages.items():
        timings, queries = time_requests(app, browser, path)
        median = statistics.median(timings)
        verdict = "ok" if median < TARGET_MS else "MISSED"
        if verdict != "ok":
            missed.append(label)
        print(
            f"{label:<34} median {median:7.1f} ms over {len(timings):2} requests,"
            f" {queries:2} queries  (target < {TARGET_MS} ms: {verdict})",
            flush=True,
        )
    return missed


def time_requests(app, browser, path: str) -> tuple[list[float], int]:
    """Timings of GET `path` in ms, and the SQL statements one request sends."""
    from mailer.extensions import db

    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def record(*_args):
        statements.append("")

    _get(browser, path)  # warm up: template compilation, connection pool
    timings: list[float] = []
    spent = 0.0
    event.listen(engine, "before_cursor_execute", record)
    try:
        while len(timings) < REQUESTS and (
            len(timings) < MIN_REQUESTS or spent < PAGE_BUDGET_SECONDS
        ):
            started = time.perf_counter()
            _get(browser, path)
            elapsed = time.perf_counter() - started
            spent += elapsed
            timings.append(elapsed * 1000)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return timings, len(statements) // len(timings)


def _get(browser, path: str):
    response = browser.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}")
    return response
