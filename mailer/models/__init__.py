"""All models, importable from one place (Alembic sees them through this module)."""

from mailer.models.blog import Article
from mailer.models.heartbeats import Heartbeat
from mailer.models.imports import ClientImport
from mailer.models.inbox import InboxMark
from mailer.models.mailings import (
    Attempt,
    Client,
    Delivery,
    Mailing,
    Message,
    Run,
    RunTally,
    UnloggedSends,
    clients_of,
    link_clients,
    mailing_clients,
    mailings_of,
)
from mailer.models.types import utcnow
from mailer.models.users import (
    CONTENT_MANAGER,
    MANAGER,
    User,
    UserRole,
    UserSession,
    normalize_email,
)

__all__ = [
    "CONTENT_MANAGER",
    "MANAGER",
    "Article",
    "Attempt",
    "Client",
    "ClientImport",
    "Delivery",
    "Heartbeat",
    "InboxMark",
    "Mailing",
    "Message",
    "Run",
    "RunTally",
    "UnloggedSends",
    "User",
    "UserRole",
    "UserSession",
    "clients_of",
    "link_clients",
    "mailing_clients",
    "mailings_of",
    "normalize_email",
    "schema_filter",
    "utcnow",
]


def schema_filter(dialect: str):
    """Alembic's `include_object` on `dialect`: leaves out what the models build only on
    another database (`Index(...).ddl_if(dialect=...)`), which autogenerate cannot tell."""

    def include_object(item, name, type_, reflected, compare_to) -> bool:
        only_on = getattr(getattr(item, "_ddl_if", None), "dialect", None)
        return only_on is None or only_on == dialect

    return include_object
