"""An RQ worker for the end-to-end tests: `python -m tests.e2e.rq_worker`.

With REDIS_URL configured, "send now" puts its batches on the RQ queue; the
live server's fixture starts this worker so they are sent. It builds the app
exactly like the live server's (the test environment and overrides, passed as
JSON in MAILER_E2E_APP), never from `.env`, and writes to the same outbox.
SIGTERM stops it after the job in hand (RQ's warm shutdown).
"""

from __future__ import annotations

import json
import os

from mailer import create_app
from mailer.delivery.worker import run_worker


def main() -> None:
    spec = json.loads(os.environ["MAILER_E2E_APP"])
    app = create_app(overrides=spec["overrides"], environ=spec["environ"])
    with app.app_context():
        run_worker(app)


if __name__ == "__main__":
    main()
