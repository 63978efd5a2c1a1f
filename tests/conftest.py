"""Shared fixtures: the app on a test database, role fixtures, logging in.

With DATABASE_URL set, tests run on PostgreSQL in a separate database named
`<name>_test` (created when missing, emptied at start), so `make test` never
touches the data of the database you develop with. With REDIS_URL set, they
use Redis database 15 and flush it. With neither, they run on the embedded
default: SQLite in a temporary folder, in-process cache and jobs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from config import sqlalchemy_url
from mailer import create_app
from mailer.extensions import cache, db
from tests import factories

TEST_SECRET = "test-secret-key-not-for-production"


def _postgres_test_url(url: str) -> str:
    """The same server, a database of its own: `<name>_test`, created if missing."""
    parts = urlsplit(sqlalchemy_url(url))
    name = parts.path.lstrip("/") or "postgres"
    test_name = name if name.endswith("_test") else f"{name}_test"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": test_name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{test_name}"'))
    admin.dispose()
    test_url = urlunsplit(parts._replace(path=f"/{test_name}"))
    engine = create_engine(test_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:  # start from an empty schema every session
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return test_url


def _redis_test_url(url: str) -> str:
    """Redis database TEST_REDIS_DB (15 unless set), which the tests flush."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{os.environ.get('TEST_REDIS_DB', '15')}"))


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in an app context of its own.

    Tests keep an app context open (factories, assertions); Flask would reuse
    it for requests, sharing `g` (Flask-Login's cached user) and the database
    session between requests. A fresh thread starts with no context, so each
    request gets its own, as in production. Read rows again after a request.
    """

    def open(self, *args, **kwargs):
        # A streamed body (CSV exports) is read and closed in the request's own
        # thread, as a server does; read later from here, its context could not
        # be popped and its database transaction would stay open, blocking the
        # TRUNCATE between tests on PostgreSQL.
        kwargs.setdefault("buffered", True)
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(super().open, *args, **kwargs).result()


@pytest.fixture(scope="session")
def test_environ(tmp_path_factory) -> dict[str, str]:
    """The environment the test app is built from (never the developer's `.env`)."""
    environ = {
        "SECRET_KEY": TEST_SECRET,
        "FLASK_DEBUG": "0",
        "LOG_LEVEL": "INFO",
        "DEFAULT_TIMEZONE": "UTC",
        # Uploaded article images go to a temporary folder, never the real instance/.
        "ARTICLE_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
    }
    if os.environ.get("DATABASE_URL"):
        environ["DATABASE_URL"] = _postgres_test_url(os.environ["DATABASE_URL"])
    else:
        environ["DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    if os.environ.get("REDIS_URL"):
        environ["REDIS_URL"] = _redis_test_url(os.environ["REDIS_URL"])
    return environ


@pytest.fixture(scope="session")
def app(test_environ, tmp_path_factory):
    app = create_app(
        overrides={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
            "MAIL_OUTBOX": str(tmp_path_factory.mktemp("outbox")),
        },
        environ=test_environ,
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade()  # the real migrations, so they are tested on every run
    return app


@pytest.fixture
def app_with_no_redis(test_environ):
    """The app with Redis configured where nothing listens (port 1 of loopback), on the
    test database."""
    environ = {**test_environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    return create_app(overrides={"TESTING": True, "WTF_CSRF_ENABLED": False}, environ=environ)


@pytest.fixture(autouse=True)
def _clean_state(app):
    """Each test starts with empty tables, an empty cache, an empty outbox and no
    throttle counting (failed logins, account emails, test emails)."""
    with app.app_context():
        yield
        db.session.remove()
        _empty_tables()
        cache.clear()
        _forget_throttles(app)
    outbox = Path(app.config["MAIL_OUTBOX"])
    for eml in outbox.glob("*.eml"):
        eml.unlink()


def _forget_throttles(app) -> None:
    from mailer.redis_client import redis_connection

    for name in [name for name in app.extensions if name.endswith("_throttle")]:
        del app.extensions[name]
    redis = redis_connection()
    if redis is not None:
        for prefix in (
            "mailer:login-failures:",
            "mailer:account-mails:",
            "mailer:mail-requests:",
            "mailer:test-emails:",
        ):
            for key in redis.scan_iter(f"{prefix}*"):
                redis.delete(key)


def _empty_tables() -> None:
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))  # noqa: S608
        else:
            for table in db.metadata.sorted_tables[::-1]:
                connection.execute(table.delete())


@pytest.fixture
def redis_conn(app):
    """The test Redis (database 15, flushed), or a skip when Redis is not configured."""
    from mailer.redis_client import redis_connection

    connection = redis_connection()
    if connection is None:
        pytest.skip("needs REDIS_URL (CI runs this suite on Redis too)")
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def fresh_queue(app):
    """With Redis: start from an empty queue (the test Redis db is shared by the session)."""
    from mailer.redis_client import redis_connection

    connection = redis_connection()
    if connection is not None:
        connection.flushdb()
    yield
    if connection is not None:
        connection.flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


# Role fixtures: the same people in every test module.


@pytest.fixture
def user(app):
    return factories.make_user(email="user@example.com", full_name="Ursula User")


@pytest.fixture
def other_user(app):
    return factories.make_user(email="other@example.com", full_name="Oscar Other")


@pytest.fixture
def manager(app):
    return factories.make_user(email="manager@example.com", roles=["manager"])


@pytest.fixture
def content_manager(app):
    return factories.make_user(email="writer@example.com", roles=["content-manager"])


@pytest.fixture
def superuser(app):
    return factories.make_user(email="admin@mailing.com", is_superuser=True)


@pytest.fixture
def login(client):
    """Log a user in on the test client (the session Flask-Login reads)."""

    def log_in(user):
        with client.session_transaction() as session:
            session["_user_id"] = factories.login_key(user)
            session["_fresh"] = True
        return client

    return log_in


@pytest.fixture
def rotate_secret_key(app, monkeypatch):
    """`rotate(keep_old=...)`: a new SECRET_KEY, the old one kept in SECRET_KEY_FALLBACKS
    or dropped, as an operator who changes the key would."""

    def rotate(*, keep_old: bool) -> None:
        old = app.config["SECRET_KEY"]
        monkeypatch.setitem(app.config, "SECRET_KEY", f"{old}-rotated")
        monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [old] if keep_old else [])

    return rotate


@pytest.fixture
def count_queries(app):
    """`count_queries(callable)` -> (its result, the SQL statements it sent), any thread."""
    from sqlalchemy import event

    def counted(action):
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            result = action()
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return result, statements

    return counted


@pytest.fixture(params=["from its page", "by the list's Delete action"])
def delete_user_in_admin(request):
    """Post the admin's deletion of one user, either way the admin offers it; the
    response, redirects followed."""

    def delete(browser: FlaskClient, user_id: int):
        if request.param == "from its page":
            path, data = "/admin/users/delete/", {"id": str(user_id)}
        else:
            path, data = "/admin/users/action/", {"action": "delete", "rowid": [str(user_id)]}
        return browser.post(path, data=data, follow_redirects=True)

    return delete


@pytest.fixture(scope="session")
def self_signed_certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA signed, and its key: (cert.pem, key.pem)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603  (fixed arguments, a test's temporary folder)
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]  # noqa: S607
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key
