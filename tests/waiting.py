"""Waiting, in a test, for what another thread, process or connection does."""

from __future__ import annotations

import time

from sqlalchemy import text

from mailer.extensions import db


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def someone_waits_for_a_lock() -> bool:
    """Whether a connection to the test database (PostgreSQL) waits for a row lock."""
    with db.engine.connect() as watcher:
        return bool(
            watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            )
        )
