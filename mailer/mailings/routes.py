"""Routes of the mailings blueprint."""

from mailer.mailings import (
    attempt_replies,  # noqa: F401  (the log's replies in the viewer's language)
    attempt_routes,  # noqa: F401  (the attempt log)
    bp,  # noqa: F401
    client_import_routes,  # noqa: F401  (CSV import of clients)
    client_routes,  # noqa: F401  (clients, CSV export)
    mailing_routes,  # noqa: F401  (mailings)
    message_routes,  # noqa: F401  (messages)
    report_routes,  # noqa: F401  (reports)
    send_routes,  # noqa: F401  (send now, live progress)
)
