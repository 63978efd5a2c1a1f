"""Routes of the manager blueprint."""

from mailer.manager import (
    bp,  # noqa: F401
    mailing_routes,  # noqa: F401  (all mailings, all attempts)
    user_routes,  # noqa: F401  (the users screens)
)
