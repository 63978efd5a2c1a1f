"""WSGI entry point: `gunicorn wsgi:app`."""

import sys

from mailer import create_app

try:
    app = create_app()
except SystemExit as stop:
    if not isinstance(stop.code, str):
        raise
    # A configuration error, already one line. Exit code 4 is gunicorn's "App failed to
    # load": its master stops, instead of starting a new worker twice a second for ever.
    print(stop.code, file=sys.stderr)
    raise SystemExit(4) from None
