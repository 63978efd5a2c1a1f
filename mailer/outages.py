"""Errors that mean a service mailer depends on cannot be reached: PostgreSQL or Redis.

The web answers them with a 503 page naming the service, and the `flask` commands
with one line, instead of a traceback that reads like a bug in mailer.
"""

from __future__ import annotations

import psycopg2
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError as RedisResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)  # what redis-py raises when it cannot reach
# SQLSTATE classes of a connection lost (08) or ended by the server (57: shut down, a
# backend terminated), but for a cancelled statement (57014), which is a statement's.
_CONNECTION_LOST = ("08", "57")
_QUERY_CANCELED = "57014"
_UNDEFINED = ("42P01", "42703")  # SQLSTATE: undefined table, undefined column


def unreachable(error: BaseException) -> str | None:
    """ "database" or "Redis" when `error` says that service cannot be reached, else None.

    A database error raised outside a statement came from connecting (refused, no such
    database, a wrong password); one that invalidated its connection lost it. Any other
    database error (a deadlock, a constraint) is a statement's, and not an outage. The
    sender's own psycopg2 connection (delivery/ledger_connection.py) raises psycopg2's
    errors as they are: a closed connection, or one lost or ended by the server.
    """
    if isinstance(error, REDIS_DOWN):
        return "Redis"
    if isinstance(error, RedisResponseError) and "DB index" in str(error):
        return "Redis"  # REDIS_URL names a database the server does not have: none of it works
    if isinstance(error, DBAPIError) and (error.statement is None or error.connection_invalidated):
        return "database"
    if isinstance(error, psycopg2.InterfaceError):
        return "database"
    if isinstance(error, psycopg2.OperationalError):
        code = error.pgcode
        if code is None:  # the client's own ("server closed the connection unexpectedly")
            return "database" if type(error) is psycopg2.OperationalError else None
        if code[:2] in _CONNECTION_LOST and code != _QUERY_CANCELED:
            return "database"
    return None


def schema_behind(error: BaseException) -> bool:
    """Whether `error` is a statement's on a table or column the database does not have: it
    was not migrated to the code's schema (`flask db upgrade`)."""
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "pgcode", None) in _UNDEFINED:
        return True
    return str(error.orig).startswith(("no such table", "no such column"))  # SQLite's words


def reason(error: BaseException) -> str:
    """The driver's own first line: host, port and why, never a password."""
    cause = getattr(error, "orig", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
