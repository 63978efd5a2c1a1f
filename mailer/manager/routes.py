"""Routes of the manager blueprint."""

from mailer.manager import bp  # noqa: F401
