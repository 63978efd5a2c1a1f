"""All models, importable from one place (Alembic sees them through this module)."""

from mailer.models.blog import Article
from mailer.models.mailings import (
    Attempt,
    Client,
    Delivery,
    Mailing,
    Message,
    Run,
    mailing_clients,
)
from mailer.models.types import utcnow
from mailer.models.users import CONTENT_MANAGER, MANAGER, User, UserRole, normalize_email

__all__ = [
    "CONTENT_MANAGER",
    "MANAGER",
    "Article",
    "Attempt",
    "Client",
    "Delivery",
    "Mailing",
    "Message",
    "Run",
    "User",
    "UserRole",
    "mailing_clients",
    "normalize_email",
    "utcnow",
]
