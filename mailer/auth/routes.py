"""Routes of the auth blueprint."""

from mailer.auth import bp  # noqa: F401
