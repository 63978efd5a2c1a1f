"""Settings for mailer, read from the environment (and `.env`) in one place.

Every deploy value comes from an environment variable. With nothing set,
mailer runs on its embedded default: SQLite in `instance/`, an in-process
cache, jobs run in-process and mail written to `instance/outbox/`.

A missing or malformed value raises ConfigError with one line that names the
variable and what it expects; `create_app` turns that into a clean exit.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = 24 * 3600
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}

# The seed's users come with Yandex settings (EMAIL_HOST_USER / EMAIL_HOST_PASSWORD).
YANDEX_SMTP = {"MAIL_SERVER": "smtp.yandex.ru", "MAIL_USE_SSL": True}  # on port 465


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""


class _Reader:
    """Typed access to an environment mapping, failing with a clear line."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or default

    def bool(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw is None:
            return default
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ConfigError(f"{name} must be true or false (1/0, yes/no), got {raw!r}")

    def int(self, name: str, default: int, *, minimum: int = 0, maximum: int = 10**9) -> int:
        """`maximum`: beyond it a number breaks what it counts (a date past year 9999)."""
        raw = self.str(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        if value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}, got {value}")
        return value

    def port(self, name: str, default: int) -> int:
        return self.int(name, default, minimum=1, maximum=65535)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """One of `choices`, in any case (given upper-case)."""
        value = self.str(name, default).upper()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def url(
        self, name: str, schemes: tuple[str, ...], *, hosted: tuple[str, ...] = ()
    ) -> str | None:
        """`hosted`: the schemes whose URL must name a host (PostgreSQL's may name a socket
        in its query instead, SQLite's and a Unix socket's none)."""
        raw = self.str(name)
        if raw is None:
            return None
        scheme = urlsplit(raw).scheme
        if scheme not in schemes:
            # Only the scheme is quoted: the rest of a database URL may hold its password.
            got = f"{scheme}://..." if scheme else "no scheme"
            expected = ", ".join(f"{s}://" for s in schemes)
            raise ConfigError(f"{name} must be a URL starting with {expected}, got {got}")
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 - urlsplit reads the port only when asked
        except ValueError:
            # The driver's own words would come with a traceback, and may quote the URL.
            raise ConfigError(f"{name} has a port that is not a number from 1 to 65535") from None
        if scheme in hosted and not parts.hostname:
            raise ConfigError(f"{name} must name a host ({scheme}://HOST...)")
        if scheme in hosted and any(character.isspace() for character in raw):
            raise ConfigError(f"{name} must not hold spaces")
        return raw

    def timezone(self, name: str, default: str) -> str:
        value = self.str(name, default)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{name} must be an IANA time zone such as Europe/Moscow, got {value!r}"
            ) from None
        return value


def _secret_key_fallbacks(env: _Reader) -> list[str]:
    raw = env.str("SECRET_KEY_FALLBACKS", "")
    return [key.strip() for key in raw.split(",") if key.strip()]


def _secret_key(env: _Reader, debug: bool, instance_path: Path) -> str:
    key = env.str("SECRET_KEY")
    if key:
        return key
    if not debug:
        raise ConfigError("SECRET_KEY must be set when FLASK_DEBUG is off")
    # Development: generate once and keep it, so sessions survive restarts.
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _database_url(env: _Reader, instance_path: Path) -> str:
    url = env.url("DATABASE_URL", ("postgresql", "postgres", "postgresql+psycopg2", "sqlite"))
    if url is None:
        instance_path.mkdir(parents=True, exist_ok=True)  # a fresh checkout has none
        return f"sqlite:///{instance_path / 'mailer.db'}"
    return sqlalchemy_url(url)


def sqlalchemy_url(url: str) -> str:
    """DATABASE_URL as SQLAlchemy should read it.

    SQLAlchemy 2.1 takes plain postgresql:// for psycopg 3; mailer ships psycopg2.
    """
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg2://{rest}"
    return url


def _mail(env: _Reader, instance_path: Path) -> dict:
    yandex_user = env.str("EMAIL_HOST_USER")
    defaults = YANDEX_SMTP if yandex_user else {}
    server = env.str("MAIL_SERVER", defaults.get("MAIL_SERVER"))
    # STARTTLS asked for by name wins over the Yandex defaults' SSL, as any MAIL_* does.
    use_tls = env.bool("MAIL_USE_TLS", False)
    use_ssl = env.bool("MAIL_USE_SSL", defaults.get("MAIL_USE_SSL", False) and not use_tls)
    username = env.str("MAIL_USERNAME", yandex_user)
    if use_tls and use_ssl:
        raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be on; pick one")
    # Yandex takes STARTTLS on 587; a server of one's own keeps SMTP's 25 unless told.
    port = 465 if use_ssl else 587 if use_tls and yandex_user else 25
    return {
        "MAIL_SERVER": server,
        "MAIL_PORT": env.port("MAIL_PORT", port),
        "MAIL_USE_SSL": use_ssl,
        "MAIL_USE_TLS": use_tls,
        "MAIL_USERNAME": username,
        "MAIL_PASSWORD": env.str("MAIL_PASSWORD", env.str("EMAIL_HOST_PASSWORD")),
        "MAIL_DEFAULT_SENDER": _sender(
            env.str("MAIL_DEFAULT_SENDER", username or "mailer@localhost")
        ),
        "MAIL_TIMEOUT": env.int("MAIL_TIMEOUT", 30, minimum=1),
        # No SMTP server configured: every email is written here as an .eml file.
        "MAIL_OUTBOX": None if server else str(instance_path / "outbox"),
    }


def _redis_database(url: str) -> bool:
    """Whether REDIS_URL's database is a number, or left out (0); redis-py reads any other
    as database 0, maybe another application's."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        databases = [value for key, value in parse_qsl(parts.query) if key == "db"]
        return all(value.isdigit() for value in databases)
    return re.fullmatch(r"/?\d*", parts.path) is not None


def _sender(value: str) -> str:
    """MAIL_DEFAULT_SENDER: an address, or "Name <address>"; else every email would go out
    From a broken address, with a broken mailto unsubscribe."""
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or any(character.isspace() for character in address):
        raise ConfigError(
            f"MAIL_DEFAULT_SENDER must be an email address (or Name <address>), got {value!r}"
        )
    return value


def _inbox(env: _Reader, mail: dict) -> dict:
    """The mailbox mailer reads for mailto unsubscribes and bounce reports (inbox.py):
    the sending account's own by default, where both arrive."""
    server = env.str("INBOX_SERVER")
    # STARTTLS on the plain port (143) is asked for by name; implicit TLS is the default.
    use_tls = env.bool("INBOX_USE_TLS", False)
    use_ssl = env.bool("INBOX_USE_SSL", not use_tls)
    if use_tls and use_ssl:
        raise ConfigError("INBOX_USE_TLS and INBOX_USE_SSL cannot both be on; pick one")
    username = env.str("INBOX_USERNAME", mail["MAIL_USERNAME"])
    password = env.str("INBOX_PASSWORD", mail["MAIL_PASSWORD"])
    if server and not username:
        raise ConfigError("INBOX_USERNAME (or MAIL_USERNAME) must be set when INBOX_SERVER is")
    if server and not password:
        raise ConfigError("INBOX_PASSWORD (or MAIL_PASSWORD) must be set when INBOX_SERVER is")
    return {
        "INBOX_SERVER": server,
        "INBOX_PORT": env.port("INBOX_PORT", 993 if use_ssl else 143),
        "INBOX_USE_SSL": use_ssl,
        "INBOX_USE_TLS": use_tls,
        "INBOX_USERNAME": username,
        "INBOX_PASSWORD": password,
        "INBOX_FOLDER": env.str("INBOX_FOLDER", "INBOX"),
        "INBOX_INTERVAL_SECONDS": env.int("INBOX_INTERVAL_SECONDS", 300, minimum=1),
    }


def _cache(env: _Reader, redis_url: str | None) -> dict:
    if not env.bool("CACHE_ENABLED", True):
        # Turned off on purpose: Flask-Caching's warning that it is off is only noise.
        return {"CACHE_TYPE": "NullCache", "CACHE_NO_NULL_WARNING": True}
    ttl = env.int("CACHE_TTL", 60, minimum=1)
    if redis_url:
        return {
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": "mailer:cache:",
            "CACHE_DEFAULT_TIMEOUT": ttl,
            # A dead Redis must cost a page at most a second, not a hang.
            "CACHE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            "CACHE_RETRY_SECONDS": env.int("CACHE_RETRY_SECONDS", 5),
        }
    return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": ttl}


def _sending(env: _Reader) -> dict:
    """How mailings are sent: batches, retries, bounces, the SMTP account's rate limit."""
    return {
        "SEND_BATCH_SIZE": env.int("SEND_BATCH_SIZE", 1000, minimum=1),
        "SEND_MAX_ATTEMPTS": env.int("SEND_MAX_ATTEMPTS", 5, minimum=1, maximum=20),
        "SEND_RETRY_BASE_SECONDS": env.int("SEND_RETRY_BASE_SECONDS", 60, maximum=DAY),
        "SEND_STALL_SECONDS": env.int("SEND_STALL_SECONDS", 600, maximum=7 * DAY),
        "HARD_BOUNCE_LIMIT": env.int("HARD_BOUNCE_LIMIT", 1, minimum=1),
        # The attempt log keeps this many days (delivery/retention.py); 0: all of it.
        "ATTEMPT_RETENTION_DAYS": env.int("ATTEMPT_RETENTION_DAYS", 0),
        "SEND_RATE_PER_SECOND": env.int("SEND_RATE_PER_SECOND", 0),
        "SEND_RATE_PER_DAY": env.int("SEND_RATE_PER_DAY", 0),
        # Test emails of a message to its owner (proof.py), per owner.
        "TEST_EMAILS_PER_HOUR": env.int("TEST_EMAILS_PER_HOUR", 10, minimum=1),
        "RQ_QUEUE": env.str("RQ_QUEUE", "mailer"),
        # Embedded default only: run jobs in the caller's thread instead of a background one.
        "JOBS_SYNCHRONOUS": env.bool("JOBS_SYNCHRONOUS", False),
    }


def load_config(environ: Mapping[str, str], instance_path: Path) -> dict:
    """Build the Flask config mapping from an environment mapping."""
    env = _Reader(environ)
    debug = env.bool("FLASK_DEBUG", False)
    redis_url = env.url("REDIS_URL", ("redis", "rediss", "unix"), hosted=("redis", "rediss"))
    if redis_url and not _redis_database(redis_url):
        # redis-py would take a path it cannot read for database 0, another app's maybe.
        raise ConfigError("REDIS_URL must end with a database number (redis://HOST:6379/0)")
    base_url = env.url("BASE_URL", ("http", "https"), hosted=("http", "https"))
    config = {
        "DEBUG": debug,
        # Our error pages, not Werkzeug's, even in debug.
        "PROPAGATE_EXCEPTIONS": False,
        "SECRET_KEY": _secret_key(env, debug, instance_path),
        # Earlier keys, comma-separated: what they signed still verifies (mailer/signing.py).
        "SECRET_KEY_FALLBACKS": _secret_key_fallbacks(env),
        "SQLALCHEMY_DATABASE_URI": _database_url(env, instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "BASE_URL": (base_url or "http://127.0.0.1:5000").rstrip("/"),
        # Unset: `flask up` points it at the address it serves on.
        "BASE_URL_GIVEN": base_url is not None,
        "DEFAULT_TIMEZONE": env.timezone("DEFAULT_TIMEZONE", "UTC"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.bool("SESSION_COOKIE_SECURE", not debug),
        # How long a signed session cookie is honoured (Flask's default: 31 days), and a
        # "remember me" cookie (Flask-Login's: 365): a copy taken of either ends by then.
        "PERMANENT_SESSION_LIFETIME": timedelta(days=14),
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env.bool("SESSION_COOKIE_SECURE", not debug),
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": env.int("MAX_UPLOAD_MB", 32, minimum=1) * 1024 * 1024,
        "ARTICLE_UPLOAD_DIR": env.str(
            "ARTICLE_UPLOAD_DIR", str(instance_path / "uploads" / "articles")
        ),
        "ARTICLE_IMAGE_MAX_BYTES": env.int("ARTICLE_IMAGE_MAX_KB", 2048, minimum=1) * 1024,
        "AVATAR_UPLOAD_DIR": env.str(
            "AVATAR_UPLOAD_DIR", str(instance_path / "uploads" / "avatars")
        ),
        "LOGIN_MAX_FAILURES": env.int("LOGIN_MAX_FAILURES", 5, minimum=1),
        "LOGIN_LOCKOUT_SECONDS": env.int("LOGIN_LOCKOUT_SECONDS", 300, minimum=1),
        "ACCOUNT_MAILS_PER_HOUR": env.int("ACCOUNT_MAILS_PER_HOUR", 3, minimum=1),
        "ACCOUNT_MAIL_REQUESTS_PER_IP": env.int("ACCOUNT_MAIL_REQUESTS_PER_IP", 20, minimum=1),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed.
        "TRUSTED_PROXIES": env.int("TRUSTED_PROXIES", 0),
        "SCHEDULER_INTERVAL_SECONDS": env.int(
            "SCHEDULER_INTERVAL_SECONDS", 60, minimum=1, maximum=3600
        ),
        **_sending(env),
        "LOG_LEVEL": env.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
        **_cache(env, redis_url),
    }
    config.update(_mail(env, instance_path))
    config.update(_inbox(env, config))
    if config["MAIL_SERVER"] and base_url is None and not debug:
        # Else every link in every email (confirm, reset, unsubscribe) leads to 127.0.0.1.
        raise ConfigError(
            "BASE_URL must be set when MAIL_SERVER is and FLASK_DEBUG is off: "
            "the public address links in emails lead to, e.g. https://mail.example.com"
        )
    return config
