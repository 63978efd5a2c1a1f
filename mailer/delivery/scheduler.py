"""What ticks every minute: rq-scheduler with Redis, a plain loop in the embedded default."""

from __future__ import annotations

import logging
import threading

from flask import Flask

log = logging.getLogger(__name__)


def run_embedded(app: Flask, stop: threading.Event) -> None:
    """Call dispatch every SCHEDULER_INTERVAL_SECONDS, in-process, until `stop` is set."""
    from mailer.delivery import dispatch

    interval = app.config["SCHEDULER_INTERVAL_SECONDS"]
    log.info("embedded scheduler started: dispatch every %ss", interval)
    while not stop.is_set():
        with app.app_context():
            try:
                dispatch.dispatch_due()
            except Exception:
                log.exception("dispatch failed; trying again at the next tick")
        stop.wait(interval)
