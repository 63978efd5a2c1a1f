"""The one Redis connection of a process (None in the embedded default)."""

from __future__ import annotations

from flask import current_app
from redis import Redis


def redis_connection() -> Redis | None:
    """A shared client for REDIS_URL, created on first use; None without Redis."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("mailer_redis")
    if client is None:
        client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        current_app.extensions["mailer_redis"] = client
    return client
