"""Fixtures of the account tests: reading emails from the outbox, a clean login throttle."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest

from mailer.auth.throttle import RedisThrottle
from mailer.redis_client import redis_connection


@pytest.fixture(autouse=True)
def _fresh_login_throttle(app):
    """Failed logins of one test never lock out the next (all come from 127.0.0.1)."""
    app.extensions.pop("mailer_login_throttle", None)
    yield
    app.extensions.pop("mailer_login_throttle", None)
    redis = redis_connection()
    if redis is not None:
        for key in redis.scan_iter(f"{RedisThrottle.PREFIX}*"):
            redis.delete(key)


@pytest.fixture
def outbox(app):
    """The emails written so far: a list of email.message.EmailMessage, oldest first."""

    def read() -> list[email.message.EmailMessage]:
        files = sorted(
            Path(app.config["MAIL_OUTBOX"]).glob("*.eml"), key=lambda p: p.stat().st_mtime_ns
        )
        return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]

    return read


def link_in(message, base_url: str) -> str:
    """The first link to this site in an email, as a path the test client can open."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(re.escape(base_url) + r"(/\S+)", text)
    assert match, f"no link to {base_url} in:\n{text}"
    return match.group(1)
