"""Configuration: every value from the environment, bad values stop start-up with one line."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def instance(tmp_path):
    return tmp_path / "instance"


def test_nothing_configured_runs_on_the_embedded_default(instance):
    config = load_config({"FLASK_DEBUG": "1"}, instance)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'mailer.db'}"
    assert config["CACHE_TYPE"] == "SimpleCache"
    assert config["REDIS_URL"] is None
    assert config["MAIL_OUTBOX"] == str(instance / "outbox")


def test_the_embedded_database_opens_in_a_fresh_checkout_with_a_secret_key_set(instance):
    import sqlite3

    config = load_config({"SECRET_KEY": "k" * 40}, instance)

    path = config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    connection = sqlite3.connect(path)  # no "unable to open database file"
    connection.execute("CREATE TABLE t (x)")
    connection.close()


def test_earlier_secret_keys_are_a_comma_separated_list(instance):
    def fallbacks(value: str | None) -> list[str]:
        environ = {"SECRET_KEY": "new"} | ({} if value is None else {"SECRET_KEY_FALLBACKS": value})
        return load_config(environ, instance)["SECRET_KEY_FALLBACKS"]

    assert fallbacks(None) == []
    assert fallbacks(" ") == []
    assert fallbacks("old-1") == ["old-1"]
    assert fallbacks(" old-2 , old-1, ") == ["old-2", "old-1"]


def test_development_secret_key_is_generated_once_and_kept(instance):
    first = load_config({"FLASK_DEBUG": "1"}, instance)["SECRET_KEY"]
    second = load_config({"FLASK_DEBUG": "1"}, instance)["SECRET_KEY"]
    assert len(first) >= 32
    assert first == second
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0


def test_production_refuses_to_start_without_secret_key(instance):
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        load_config({}, instance)


def test_production_cookies_are_secure_and_debug_cookies_are_not(instance):
    production = load_config({"SECRET_KEY": "x"}, instance)
    debug = load_config({"FLASK_DEBUG": "1"}, instance)
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert debug["SESSION_COOKIE_SECURE"] is False


def test_postgres_and_redis_urls_switch_database_and_cache(instance):
    config = load_config(
        {
            "SECRET_KEY": "x",
            "DATABASE_URL": "postgres://u@db/mailer",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
        instance,
    )
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://u@db/mailer"
    assert config["CACHE_TYPE"] == "RedisCache"
    assert config["CACHE_REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_cache_enabled_false_turns_caching_off(instance):
    config = load_config({"SECRET_KEY": "x", "CACHE_ENABLED": "False"}, instance)
    assert config["CACHE_TYPE"] == "NullCache"


# The seed's .env: a Yandex mailbox's login alone.
YANDEX = {
    "SECRET_KEY": "x",
    "BASE_URL": "https://mail.example.com",
    "EMAIL_HOST_USER": "me@yandex.ru",
}


def test_yandex_aliases_of_the_seed_set_host_port_and_ssl(instance):
    config = load_config({**YANDEX, "EMAIL_HOST_PASSWORD": "pw"}, instance)
    assert config["MAIL_SERVER"] == "smtp.yandex.ru"
    assert config["MAIL_PORT"] == 465
    assert config["MAIL_USE_SSL"] is True
    assert config["MAIL_USERNAME"] == "me@yandex.ru"
    assert config["MAIL_PASSWORD"] == "pw"
    assert config["MAIL_DEFAULT_SENDER"] == "me@yandex.ru"
    assert config["MAIL_OUTBOX"] is None


@pytest.mark.parametrize(
    ("chosen", "ssl", "tls", "port"),
    [
        ({"MAIL_USE_TLS": "True"}, False, True, 587),  # Yandex's STARTTLS port
        ({"MAIL_USE_SSL": "False"}, False, False, 25),  # not SSL's 465 without SSL
        ({"MAIL_USE_TLS": "True", "MAIL_PORT": "2525"}, False, True, 2525),
    ],
    ids=["STARTTLS", "no SSL", "a port of its own"],
)
def test_a_mail_setting_given_wins_over_the_yandex_defaults(instance, chosen, ssl, tls, port):
    config = load_config({**YANDEX, **chosen}, instance)

    assert (config["MAIL_USE_SSL"], config["MAIL_USE_TLS"], config["MAIL_PORT"]) == (ssl, tls, port)
    assert config["MAIL_SERVER"] == "smtp.yandex.ru"


def test_starttls_on_a_server_of_ones_own_keeps_port_25_unless_told(instance):
    config = load_config(
        {
            "SECRET_KEY": "x",
            "BASE_URL": "https://m.example.com",
            "MAIL_SERVER": "relay",
            "MAIL_USE_TLS": "1",
        },
        instance,
    )
    assert (config["MAIL_USE_TLS"], config["MAIL_PORT"]) == (True, 25)
    with pytest.raises(ConfigError, match="MAIL_USE_TLS and MAIL_USE_SSL cannot both be on"):
        load_config({"SECRET_KEY": "x", "MAIL_USE_TLS": "1", "MAIL_USE_SSL": "1"}, instance)


def test_a_login_without_tls_to_another_machine_is_warned_of_at_start(instance, caplog):
    """AUTH PLAIN (or IMAP's LOGIN) over plain text: the password as written, on the wire."""
    from mailer import create_app

    alone = {"SECRET_KEY": "x", "DATABASE_URL": "sqlite://", "BASE_URL": "https://m.example"}
    login = {**alone, "MAIL_USERNAME": "news@example.com", "MAIL_PASSWORD": "p"}
    clear = {**login, "MAIL_SERVER": "smtp.example.com", "INBOX_SERVER": "imap.example.com"}
    clear |= {"INBOX_USE_SSL": "0"}
    create_app(environ=clear)
    for kind in ("SMTP", "IMAP"):
        assert f"the {kind} password goes to" in caplog.text
    assert "set MAIL_USE_SSL or MAIL_USE_TLS" in caplog.text
    caplog.clear()

    for server in (
        {"MAIL_SERVER": "127.0.0.1"},
        {"MAIL_SERVER": "smtp.example.com", "MAIL_USE_TLS": "1"},
    ):
        create_app(environ={**login, **server})
    create_app(environ={**alone, "MAIL_SERVER": "smtp.example.com"})  # no login

    assert "in clear" not in caplog.text


def test_production_without_a_mail_server_says_no_email_is_sent(caplog):
    """A MAIL_SERVER misspelt in .env: every email was only written to the outbox, which
    no page shows outside debug mode, while pages and commands said "sent"."""
    from mailer import create_app

    alone = {"SECRET_KEY": "x", "DATABASE_URL": "sqlite://", "BASE_URL": "https://m.example"}
    create_app(environ={**alone, "MAIL_SERVR": "smtp.example.com"})
    assert "no MAIL_SERVER is set: emails are only written to" in caplog.text
    caplog.clear()

    create_app(environ={**alone, "MAIL_SERVER": "smtp.example.com"})
    create_app(environ={**alone, "FLASK_DEBUG": "1"})  # make run's outbox

    assert "no MAIL_SERVER" not in caplog.text


@pytest.mark.parametrize(
    ("environment", "dotenv", "debug"),
    [({}, None, "1"), ({}, "FLASK_DEBUG=0\n", "0"), ({"FLASK_DEBUG": "1"}, "FLASK_DEBUG=0\n", "1")],
    ids=["by default", "off in .env", "the environment wins"],
)
def test_make_run_is_in_debug_mode_unless_told_otherwise_in_the_environment_or_dotenv(
    tmp_path, environment, dotenv, debug
):
    """It set FLASK_DEBUG=1 before .env was read, so a server's `FLASK_DEBUG=0` there was
    lost: debug mode, its Outbox page open to anyone, the demo logins on the login page."""
    for name in ("Makefile", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    shown = ["make", "--silent", "-n", "-o", ".venv/.installed", "run"]
    command = subprocess.run(shown, cwd=tmp_path, capture_output=True, text=True, check=True)
    as_run = command.stdout.strip().splitlines()[-1].replace(".venv/bin/flask", "env #")

    ran = subprocess.run(
        ["bash", "-c", as_run],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        check=True,
    )

    assert f"FLASK_DEBUG={debug}" in ran.stdout.splitlines()


def test_production_sending_real_email_refuses_to_start_without_base_url(instance):
    """Without it every link in every email (confirm, reset, unsubscribe) would lead to
    http://127.0.0.1:5000, the address `make run` serves."""
    for mail in ({"MAIL_SERVER": "smtp.example.com"}, {"EMAIL_HOST_USER": "me@yandex.ru"}):
        with pytest.raises(ConfigError, match="BASE_URL must be set when MAIL_SERVER is"):
            load_config({"SECRET_KEY": "x", **mail}, instance)
        given = load_config(
            {"SECRET_KEY": "x", "BASE_URL": "https://m.example.com/", **mail}, instance
        )
        assert given["BASE_URL"] == "https://m.example.com"
        debug = load_config({"FLASK_DEBUG": "1", **mail}, instance)  # `flask up` sets it
        assert debug["BASE_URL"] == "http://127.0.0.1:5000"
    assert load_config({"SECRET_KEY": "x"}, instance)["MAIL_OUTBOX"]  # no email leaves


def test_the_inbox_is_off_unless_its_server_is_set(instance):
    config = load_config({"SECRET_KEY": "x"}, instance)
    assert config["INBOX_SERVER"] is None
    assert config["INBOX_FOLDER"] == "INBOX"
    assert config["INBOX_INTERVAL_SECONDS"] == 300


def test_one_line_reads_the_yandex_sending_accounts_inbox(instance):
    """The mailto of List-Unsubscribe and the relay's bounce reports go to the sending
    account: its login is the inbox's."""
    config = load_config(
        {
            "SECRET_KEY": "x",
            "BASE_URL": "https://mail.example.com",
            "EMAIL_HOST_USER": "me@yandex.ru",
            "EMAIL_HOST_PASSWORD": "app-password",
            "INBOX_SERVER": "imap.yandex.ru",
        },
        instance,
    )
    assert config["INBOX_SERVER"] == "imap.yandex.ru"
    assert config["INBOX_PORT"] == 993
    assert config["INBOX_USE_SSL"] is True
    assert config["INBOX_USERNAME"] == "me@yandex.ru"
    assert config["INBOX_PASSWORD"] == "app-password"


def test_inbox_settings_of_its_own_win_over_the_sending_accounts(instance):
    config = load_config(
        {
            "SECRET_KEY": "x",
            "MAIL_USERNAME": "sender@example.com",
            "MAIL_PASSWORD": "smtp-pw",
            "INBOX_SERVER": "imap.example.com",
            "INBOX_USE_SSL": "false",
            "INBOX_USERNAME": "bounces@example.com",
            "INBOX_PASSWORD": "imap-pw",
            "INBOX_FOLDER": "Bounces",
            "INBOX_INTERVAL_SECONDS": "60",
        },
        instance,
    )
    assert config["INBOX_PORT"] == 143  # plain IMAP's port without SSL
    assert config["INBOX_USERNAME"] == "bounces@example.com"
    assert config["INBOX_PASSWORD"] == "imap-pw"
    assert config["INBOX_FOLDER"] == "Bounces"
    assert config["INBOX_INTERVAL_SECONDS"] == 60


def test_starttls_for_the_inbox_is_one_setting_and_takes_the_plain_port(instance):
    environ = {"SECRET_KEY": "x", "MAIL_USERNAME": "me@example.com", "MAIL_PASSWORD": "pw"}
    config = load_config(
        {**environ, "INBOX_SERVER": "imap.example.com", "INBOX_USE_TLS": "1"}, instance
    )
    assert (config["INBOX_USE_TLS"], config["INBOX_USE_SSL"]) == (True, False)
    assert config["INBOX_PORT"] == 143


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must be a URL starting with"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a URL starting with"),
        ({"MAIL_PORT": "smtp"}, "MAIL_PORT must be a whole number, got 'smtp'"),
        # It was taken, and every email then failed "connection refused", for retries.
        ({"MAIL_PORT": "99999"}, "MAIL_PORT must be at most 65535, got 99999"),
        ({"INBOX_PORT": "0"}, "INBOX_PORT must be at least 1, got 0"),
        ({"CACHE_ENABLED": "maybe"}, "CACHE_ENABLED must be true or false"),
        ({"DEFAULT_TIMEZONE": "Mars/Base"}, "DEFAULT_TIMEZONE must be an IANA time zone"),
        ({"MAIL_USE_SSL": "1", "MAIL_USE_TLS": "1"}, "cannot both be on"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, got 'LOUD'"),
        ({"BASE_URL": "notaurl"}, "BASE_URL must be a URL starting with http://, https://, got no"),
        # Each of these was a traceback from the driver, or a setting silently misread.
        ({"DATABASE_URL": "postgresql://me:pw@db:54x2/m"}, "DATABASE_URL has a port that is not"),
        ({"REDIS_URL": "redis://127.0.0.1:abc/9"}, "REDIS_URL has a port that is not a number"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/9x"}, "REDIS_URL must end with a database number"),
        ({"REDIS_URL": "unix:///run/redis.sock?db=x"}, "REDIS_URL must end with a database"),
        ({"BASE_URL": "http://"}, r"BASE_URL must name a host \(http://HOST\.\.\.\)"),
        ({"BASE_URL": "http://exa mple.com"}, "BASE_URL must not hold spaces"),
        ({"MAIL_DEFAULT_SENDER": "not an email"}, "MAIL_DEFAULT_SENDER must be an email address"),
        # Larger, they broke every dispatch tick (a date past year 9999) or the health check.
        ({"SEND_STALL_SECONDS": "99999999999"}, "SEND_STALL_SECONDS must be at most 604800"),
        ({"SEND_MAX_ATTEMPTS": "100"}, "SEND_MAX_ATTEMPTS must be at most 20, got 100"),
        ({"SCHEDULER_INTERVAL_SECONDS": "99999999999999"}, "must be at most 3600"),
        ({"CACHE_TTL": "10000000000"}, "CACHE_TTL must be at most 1000000000"),
        ({"MAIL_DEFAULT_SENDER": "News <news@>"}, "MAIL_DEFAULT_SENDER must be an email address"),
        # Never the rest of a database URL: it may hold the password.
        ({"DATABASE_URL": "mysql://me:secret@db/x"}, r"got mysql://\.\.\.$"),
        ({"INBOX_PORT": "imap"}, "INBOX_PORT must be a whole number, got 'imap'"),
        ({"INBOX_USE_SSL": "maybe"}, "INBOX_USE_SSL must be true or false"),
        ({"INBOX_USE_SSL": "1", "INBOX_USE_TLS": "1"}, "INBOX_USE_TLS and INBOX_USE_SSL cannot"),
        ({"INBOX_INTERVAL_SECONDS": "0"}, "INBOX_INTERVAL_SECONDS must be at least 1, got 0"),
        ({"ATTEMPT_RETENTION_DAYS": "-30"}, "ATTEMPT_RETENTION_DAYS must be at least 0, got -30"),
        (
            {"INBOX_SERVER": "imap.example.com"},
            r"^INBOX_USERNAME \(or MAIL_USERNAME\) must be set when INBOX_SERVER is$",
        ),
        (
            {"INBOX_SERVER": "imap.example.com", "MAIL_USERNAME": "me@example.com"},
            r"^INBOX_PASSWORD \(or MAIL_PASSWORD\) must be set when INBOX_SERVER is$",
        ),
    ],
)
def test_malformed_setting_names_the_variable_and_what_it_expects(instance, environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"SECRET_KEY": "x", **environ}, instance)


@pytest.mark.parametrize(
    "environ",
    [
        {"DATABASE_URL": "postgresql://me@/mailer?host=/var/run/postgresql"},  # README's socket
        {"DATABASE_URL": "sqlite:////srv/My Data/mailer.db"},
        {"REDIS_URL": "redis://127.0.0.1:6379"},
        {"REDIS_URL": "unix:///run/redis.sock?db=3"},
        {"MAIL_DEFAULT_SENDER": "Mailer News <news@example.com>"},
    ],
)
def test_sound_settings_of_every_shape_are_taken(instance, environ):
    assert load_config({"SECRET_KEY": "x", **environ}, instance)


def _started_with(arguments: list[str], home, **environ: str) -> subprocess.CompletedProcess:
    """`python -m ARGUMENTS` in the project folder, with these settings in its environment."""
    return subprocess.run(
        [sys.executable, "-m", *arguments],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "SECRET_KEY": "x", **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_setting_stops_start_up_with_one_line_and_no_traceback(tmp_path):
    result = _started_with(["flask", "--app", "wsgi", "routes"], tmp_path, MAIL_PORT="z")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "mailer: configuration error: MAIL_PORT must be a whole number, got 'z'" in result.stderr


@pytest.mark.parametrize(
    ("given", "host", "expected"),
    [
        (None, "127.0.0.1", "http://127.0.0.1:5077"),
        (None, "0.0.0.0", "http://127.0.0.1:5077"),  # listening everywhere: this machine's
        (None, "::1", "http://[::1]:5077"),  # an IPv6 address is bracketed in a URL
        ("https://mail.example.com/", "127.0.0.1", "https://mail.example.com"),
    ],
)
def test_links_in_emails_lead_to_the_port_make_run_serves_unless_base_url_is_set(
    instance, monkeypatch, given, host, expected
):
    from flask import Flask

    from mailer.cli import _links_lead_here

    monkeypatch.delenv("BASE_URL", raising=False)
    app = Flask(__name__)
    app.config.update(load_config({"FLASK_DEBUG": "1", "BASE_URL": given or ""}, instance))

    _links_lead_here(app, host, 5077)

    assert app.config["BASE_URL"] == expected
    assert os.environ.get("BASE_URL") == (None if given else expected)  # what the worker reads


@pytest.mark.parametrize(
    ("command", "environ", "line"),
    [
        (
            ["db", "upgrade"],
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/mailer"},
            'mailer: cannot reach the database (DATABASE_URL): connection to server at "127.0.0.1",'
            " port 1 failed: Connection refused",
        ),
        (
            ["worker", "--burst"],
            {"REDIS_URL": "redis://127.0.0.1:1/0"},
            "mailer: cannot reach Redis (REDIS_URL): Error 111 connecting to 127.0.0.1:1.",
        ),
        (  # a database the Redis server does not have (16 by default): none of it works
            ["worker", "--burst"],
            {"REDIS_URL": "redis://127.0.0.1:6379/99"},
            "mailer: cannot reach Redis (REDIS_URL): DB index is out of range",
        ),
        (  # once running it waits out an outage; it never starts into one
            ["start-scheduler"],
            {"REDIS_URL": "redis://127.0.0.1:1/0"},
            "mailer: cannot reach Redis (REDIS_URL): Error 111 connecting to 127.0.0.1:1.",
        ),
        (
            ["start-scheduler"],
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/mailer"},
            'mailer: cannot reach the database (DATABASE_URL): connection to server at "127.0.0.1",'
            " port 1 failed: Connection refused",
        ),
        (
            ["worker", "--burst"],
            {
                "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/mailer",
                "REDIS_URL": "redis://127.0.0.1:6379/15",
            },
            'mailer: cannot reach the database (DATABASE_URL): connection to server at "127.0.0.1",'
            " port 1 failed: Connection refused",
        ),
    ],
    ids=[
        "db upgrade",
        "worker, Redis",
        "worker, Redis database",
        "scheduler, Redis",
        "scheduler, database",
        "worker, database",
    ],
)
def test_an_unreachable_database_or_redis_stops_a_command_with_one_line(
    tmp_path, command, environ, line
):
    """Nothing listens on port 1: the setting points nowhere."""
    result = _started_with(["flask", "--app", "wsgi", *command], tmp_path, **environ)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert line in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_command_on_a_database_not_migrated_says_so_in_one_line(tmp_path):
    """`flask db upgrade` forgotten: each command ended in a traceback of 90 lines."""
    database = f"sqlite:///{tmp_path / 'empty.db'}"
    result = _started_with(
        ["flask", "--app", "wsgi", "user", "grant", "ann@example.com", "manager"],
        tmp_path,
        DATABASE_URL=database,
    )

    assert result.returncode != 0
    assert result.stderr.strip() == (
        "mailer: the database lacks migrations (DATABASE_URL): no such table: users;"
        " run `flask --app wsgi db upgrade`"
    )


def test_make_run_stops_when_its_worker_ends_saying_so(tmp_path):
    """It served on without its worker and scheduler (a bad REDIS_URL, a crash, a kill):
    nothing was sent, and nothing said why."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _started_with(
        ["flask", "--app", "wsgi", "up", "--port", str(port)],
        tmp_path,
        FLASK_DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}",
        REDIS_URL="redis://127.0.0.1:6379/99",  # a database Redis does not have: both end
    )

    assert "mailer is running on" in result.stdout  # it had started
    assert "ended (exit 1), so mailer stops; its lines above say why" in result.stderr
    assert result.returncode == 1  # a script, or CI's smoke test, sees it failed
    assert "cannot reach Redis (REDIS_URL): DB index is out of range" in result.stderr


def test_gunicorn_stops_at_a_bad_setting_instead_of_restarting_its_worker_for_ever(tmp_path):
    gunicorn = ["gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket", "--workers", "1"]
    result = _started_with([*gunicorn, "wsgi:app"], tmp_path, MAIL_PORT="z")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    line = "mailer: configuration error: MAIL_PORT must be a whole number, got 'z'"
    assert result.stderr.count(line) == 1
