"""Routes of the blog blueprint."""

from mailer.blog import bp  # noqa: F401
