"""The PostgreSQL ledger's connection: asynchronous, and kept by the process.

psycopg2's asynchronous mode sends a statement and returns at once, so the
sender can build the next email while the database writes a mark (`wait`
reads the answer). The connection is kept from batch to batch, since a new
PostgreSQL backend spends its first few hundred statements filling its
caches, and pinged before each batch, as the pool's pre-ping would.
"""

from __future__ import annotations

import logging
import os
from select import select as wait_for_fds

import psycopg2
from psycopg2.extensions import POLL_OK, POLL_READ, POLL_WRITE

from mailer.extensions import db

log = logging.getLogger(__name__)

_connections: dict[tuple[int, str], object] = {}


def _key() -> tuple[int, str]:
    return os.getpid(), str(db.engine.url)  # a forked process connects anew


def kept_connection(prepare: str):
    """The process's ledger connection: autocommit, asynchronous, `prepare` run on it once."""
    connection = _connections.get(_key())
    if connection is not None and _alive(connection):
        return connection
    arguments, options = db.engine.dialect.create_connect_args(db.engine.url)
    connection = psycopg2.connect(*arguments, **options, async_=True)
    try:
        wait(connection)
        with connection.cursor() as cursor:
            cursor.execute(prepare)
            wait(connection)
    except BaseException:
        connection.close()
        raise
    _connections[_key()] = connection
    return connection


def _alive(connection) -> bool:
    """One round trip per batch, as the pool's pre-ping: after a database restart the
    kept connection is dead, and the batch must not fail for it."""
    if connection.closed:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            wait(connection)
        return True
    except psycopg2.Error as error:
        log.info("the ledger's database connection was lost (%s); connecting anew", error)
        connection.close()
        return False


def forget(connection) -> None:
    """Close a connection left in an unknown state; the next batch connects anew."""
    if _connections.get(_key()) is connection:
        del _connections[_key()]
    connection.close()


def wait(connection) -> None:
    """Until the asynchronous connection has its answer (psycopg2's wait loop)."""
    while True:
        state = connection.poll()
        if state == POLL_OK:
            return
        if state == POLL_READ:
            wait_for_fds([connection.fileno()], [], [])
        elif state == POLL_WRITE:
            wait_for_fds([], [connection.fileno()], [])
