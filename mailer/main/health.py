"""Checks of what mailer depends on, for /healthz: can it reach them, does dispatch run."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from mailer import outages
from mailer.extensions import cache, db
from mailer.models import Heartbeat, utcnow
from mailer.redis_client import redis_connection

log = logging.getLogger(__name__)

# Dispatch is late, and /healthz answers 503, after this many of its intervals without it
# (10 minutes by default). Not fewer: with Redis it waits for a worker to finish the batch
# in hand, which under a tight rate limit takes minutes.
LATE_AFTER_INTERVALS = 10
_STARTED_AT = "mailer.started_at"  # app.extensions: when this web process began
_HEAD = "mailer.migrations_head"  # app.extensions: the newest migration's revision


class Failing(Exception):  # noqa: N818 - a state, not an error of the code
    """A check's state that fails /healthz, as said (not "unreachable")."""


def note_start(state) -> None:
    """For Blueprint.record_once: when this web process began."""
    state.app.extensions.setdefault(_STARTED_AT, utcnow())


def check_database() -> str:
    """Reachable, and migrated to the code's schema: a database the upgrade was not run on
    answered every query that reads a new column with a 500."""
    db.session.execute(text("SELECT 1"))
    try:
        applied = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:  # no such table: never migrated
        db.session.rollback()
        applied = None
    if applied != (head := _migrations_head()):
        raise Failing(
            f"migrations pending: the database is at {applied or 'none'}, the code wants {head};"
            " run `flask --app wsgi db upgrade`"
        )
    return "ok"


def _migrations_head() -> str:
    """The newest migration's revision, read once per process."""
    head = current_app.extensions.get(_HEAD)
    if head is None:
        config = Config()
        config.set_main_option("script_location", current_app.extensions["migrate"].directory)
        head = ScriptDirectory.from_config(config).get_current_head()
        current_app.extensions[_HEAD] = head
    return head


def check_cache() -> str:
    if current_app.config["CACHE_TYPE"] == "NullCache":
        return "disabled"
    key = f"healthz:{uuid.uuid4().hex}"
    # Flask-Caching swallows backend errors and answers False/None instead.
    if not cache.set(key, "1", timeout=10) or cache.get(key) != "1":
        raise ConnectionError("cache did not keep a value")
    cache.delete(key)
    return "ok"


def check_queue() -> str:
    connection = redis_connection()
    if connection is None:
        return "in-process"
    connection.ping()
    return "ok"


def check_dispatch() -> str:
    """Whether dispatch ran in the last LATE_AFTER_INTERVALS intervals: a stopped scheduler
    (or, with Redis, no worker) sends nothing, and nothing else would say so. Before its
    first run the time counts from the start of this web process."""
    now = utcnow()
    late_after = timedelta(
        seconds=current_app.config["SCHEDULER_INTERVAL_SECONDS"] * LATE_AFTER_INTERVALS
    )
    beat_at = db.session.scalar(
        select(Heartbeat.beat_at).where(Heartbeat.name == Heartbeat.DISPATCH)
    )
    if beat_at is None:
        since_start = now - current_app.extensions[_STARTED_AT]
        if since_start > late_after:
            raise Failing(f"late: not run in the {_seconds(since_start)} s since start")
        return "not run yet"
    if now - beat_at > late_after:
        raise Failing(f"late: last ran {_seconds(now - beat_at)} s ago")
    return "ok"


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


CHECKS = {
    "database": check_database,
    "cache": check_cache,
    "queue": check_queue,
    "dispatch": check_dispatch,
}


def run_checks() -> tuple[dict[str, str], bool]:
    """Each check's state and whether all passed; a failing check says why."""
    states, healthy = {}, True
    for name, check in CHECKS.items():
        try:
            states[name] = check()
        except Failing as failing:
            log.warning("health check %s failed: %s", name, failing)
            states[name] = str(failing)
            healthy = False
        except Exception as error:  # any other failure means "not reachable"
            log.warning("health check %s failed: %s", name, outages.reason(error))  # one line
            db.session.rollback()  # the database's, or dispatch's read of it
            states[name] = f"unreachable: {type(error).__name__}"
            healthy = False
    return states, healthy
