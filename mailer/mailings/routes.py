"""Routes of the mailings blueprint."""

from mailer.mailings import bp  # noqa: F401
