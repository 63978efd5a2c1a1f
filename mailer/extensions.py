"""Flask extensions, created unbound; `create_app` binds them to an app."""

import sqlite3

from flask_babel import Babel
from flask_caching import Cache
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_principal import Principal
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite

# Stable constraint names: SQLite batch migrations and reviews need them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def insert_on_conflict(model):
    """An INSERT that can end in ON CONFLICT DO NOTHING / DO UPDATE: PostgreSQL's or
    SQLite's (both have it), whichever the app runs on."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


@event.listens_for(Engine, "connect")
def _sqlite_like_postgresql(dbapi_connection, connection_record) -> None:
    """Make each SQLite connection behave as PostgreSQL does where the app relies on it.

    SQLite enforces foreign keys and their ON DELETE rules only when asked to, per
    connection: ask, so the embedded default keeps its data as PostgreSQL does.
    (The migrations turn it off while they rebuild tables: migrations/env.py.)

    SQLite's own lower() folds ASCII letters only, so a search for "анна" missed
    "Анна" (the searches compare lower(column) with a lower-cased pattern). Python's
    str.lower folds every script, as PostgreSQL's lower() does in a UTF-8 locale.

    Write-ahead logging lets pages read while a long transaction writes, as PostgreSQL
    does: in SQLite's default mode, a big import holding its write lock (once its changes
    outgrow the page cache) kept every page waiting, its own progress check included,
    until it committed or the wait ran out ("database is locked"). The mode is the
    database file's, kept beside it in mailer.db-wal and mailer.db-shm.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA journal_mode = WAL")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value):
    # NULL stays NULL and other types are read as text, as SQLite's lower() does.
    return None if value is None else str(value).lower()


migrate = Migrate()
login_manager = LoginManager()
# Flask-Principal 0.4 on Flask 3: identities come from Flask-Login, not its own session.
principal = Principal(use_sessions=False)
cache = Cache()
mail = Mail()
csrf = CSRFProtect()
babel = Babel()
