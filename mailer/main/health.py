"""Reachability checks of what mailer depends on, for /healthz."""

from __future__ import annotations

import logging
import uuid

from flask import current_app
from sqlalchemy import text

from mailer.extensions import cache, db
from mailer.redis_client import redis_connection

log = logging.getLogger(__name__)


def check_database() -> str:
    db.session.execute(text("SELECT 1"))
    return "ok"


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


CHECKS = {"database": check_database, "cache": check_cache, "queue": check_queue}


def run_checks() -> tuple[dict[str, str], bool]:
    """Each check's state and whether all passed; a failing check says why."""
    states, healthy = {}, True
    for name, check in CHECKS.items():
        try:
            states[name] = check()
        except Exception as error:  # any failure means "not reachable"
            log.warning("health check %s failed: %s", name, error)
            if name == "database":
                db.session.rollback()
            states[name] = f"unreachable: {type(error).__name__}"
            healthy = False
    return states, healthy
