"""Logging to stdout in one format, with the request id on every line.

Each request gets an id (the incoming `X-Request-ID` when it looks sane,
else a new one); it is echoed in the response header and stamped on every
log line written while the request runs. Nothing secret is ever logged:
log the user's id or email, never a password, token or full URL with one.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request

LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Signed tokens (confirm, reset, unsubscribe links) are long; ids and words are not.
_TOKEN_SEGMENT = re.compile(r"[^/]{32,}")

log = logging.getLogger("mailer.request")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "-")
        elif not hasattr(record, "request_id"):
            record.request_id = "-"
        return True


def configure(level: str = "INFO") -> None:
    """Send every logger to stdout in LOG_FORMAT; safe to call more than once."""
    root = logging.getLogger()
    if not any(getattr(h, "_mailer", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler._mailer = True
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's own access log duplicates ours.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def init_app(app: Flask) -> None:
    configure(app.config["LOG_LEVEL"])

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        elapsed_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
        log.info("%s %s %s %.1fms", request.method, logged_path(), response.status_code, elapsed_ms)
        return response


def logged_path() -> str:
    """The current request's path as a log line may show it: tokens redacted."""
    return redact(request.path, (request.view_args or {}).get("token"))


def redact(path: str, token: str | None = None) -> str:
    """The path without its query string, with the route's `token` and any other
    token-like segment hidden (a short token too)."""
    if token:
        path = path.replace(token, "[redacted]")
    return _TOKEN_SEGMENT.sub("[redacted]", path)
