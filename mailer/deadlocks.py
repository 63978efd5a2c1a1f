"""Writes that PostgreSQL rolled back to break a deadlock, done again.

Deleting a client, a mailing or a user cascades to deliveries that a worker
may be writing at that very moment, and the two lock the same rows in
opposite orders (the worker: a delivery, then its client and run; the
deletion: the client or run, then its deliveries). PostgreSQL breaks such a
deadlock by rolling one of them back. Both sides do their work again: the
worker's ledger (delivery/ledger.py) and the deletions, through
`commit_retrying_deadlocks`. The rollback undid the whole transaction, so
doing it again does it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from psycopg2.errors import DeadlockDetected
from sqlalchemy.exc import OperationalError

from mailer.extensions import db

log = logging.getLogger(__name__)

DEADLOCK_RETRIES = 3  # times a transaction rolled back to break a deadlock is done again

T = TypeVar("T")


def commit_retrying_deadlocks(work: Callable[[], T], what: str) -> T:
    """Run `work()` in the session and commit; if PostgreSQL rolled the transaction back to
    break a deadlock, do both again (up to DEADLOCK_RETRIES times). `what` names the work
    in the log. Objects `work` uses stay in the session across the rollback, expired:
    they are read again when used."""
    for retry in range(1, DEADLOCK_RETRIES + 1):
        try:
            return _commit(work)
        except OperationalError as error:
            if not isinstance(error.orig, DeadlockDetected):
                raise
            log.warning(
                "PostgreSQL rolled back %s to break a deadlock (a worker writing the same"
                " rows); doing it again (%d of %d)",
                what,
                retry,
                DEADLOCK_RETRIES,
            )
    return _commit(work)


def _commit(work: Callable[[], T]) -> T:
    try:
        result = work()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result
