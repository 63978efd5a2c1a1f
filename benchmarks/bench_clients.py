"""Client import throughput and client-list response times (`make bench`).

Runs on a throwaway database, never on your data:
- PostgreSQL (DATABASE_URL set): a database of its own, `<name>_bench`, emptied
  and migrated on every run (created when missing);
- SQLite (nothing set): a temporary file, removed afterwards;
- `--in-place`: the configured database itself, refused when it has users
  unless `--yes` is given too.

It creates one user, imports N generated clients from a CSV file through the
real import service (parse, validate, chunked insert), and times the clients
list (first page, a search, a deep page) through the Flask test client,
logged in: the median of 20 requests each.

    .venv/bin/python benchmarks/bench_clients.py [--clients 1000000] [--in-place --yes]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dotenv import dotenv_values  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, event, func, inspect, select, text  # noqa: E402

from config import sqlalchemy_url  # noqa: E402

IMPORT_TARGET = 20_000  # rows per second
LIST_TARGET_MS = 100
REQUESTS = 20
FIRST_NAMES = ["Анна", "Борис", "Вера", "Глеб", "Anna", "Boris", "Maria", "John"]
DOMAINS = ["example.com", "mail.example.ru", "yandex.example", "corp.example.org"]


def main() -> int:
    args = _arguments()
    environ = _environment()
    url, cleanup = _bench_database(environ.get("DATABASE_URL"), in_place=args.in_place)
    environ["DATABASE_URL"] = url
    try:
        return _run(args, environ)
    finally:
        cleanup()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000, help="clients to import")
    parser.add_argument(
        "--in-place", action="store_true", help="use the configured database itself"
    )
    parser.add_argument(
        "--yes", action="store_true", help="allow --in-place on a database with users"
    )
    return parser.parse_args()


def _environment() -> dict[str, str]:
    root = Path(__file__).resolve().parent.parent
    dotenv = {k: v for k, v in dotenv_values(root / ".env").items() if v is not None}
    environ = {**dotenv, **os.environ}
    environ.setdefault("SECRET_KEY", "bench-secret")
    environ["FLASK_DEBUG"] = "0"
    environ["LOG_LEVEL"] = "WARNING"
    environ.pop("REDIS_URL", None)  # the cache is not what is measured
    return environ


def _bench_database(url: str | None, *, in_place: bool):
    """The URL to run on and a function that cleans up after the run."""
    if in_place:
        return url or "", lambda: None
    if url and url.startswith(("postgres", "postgresql")):
        return _postgres_bench(url), lambda: None
    folder = tempfile.mkdtemp(prefix="mailer-bench-")
    path = Path(folder) / "bench.db"

    def cleanup():
        path.unlink(missing_ok=True)
        os.rmdir(folder)

    return f"sqlite:///{path}", cleanup


def _postgres_bench(url: str) -> str:
    parts = urlsplit(sqlalchemy_url(url))
    name = parts.path.lstrip("/") or "postgres"
    bench_name = name if name.endswith("_bench") else f"{name}_bench"
    admin = create_engine(
        urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": bench_name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{bench_name}"'))
    admin.dispose()
    bench_url = urlunsplit(parts._replace(path=f"/{bench_name}"))
    engine = create_engine(bench_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return bench_url


def _run(args: argparse.Namespace, environ: dict[str, str]) -> int:
    from mailer import create_app
    from mailer.extensions import db
    from mailer.models import User

    app = create_app(overrides={"WTF_CSRF_ENABLED": False}, environ=environ)
    with app.app_context():
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        users = _user_count(db, User)
        if args.in_place and users and not args.yes:
            print(f"refusing: this database has {users} users; add --yes to run on it anyway")
            return 2
        upgrade()
        user_id = _make_user()
        _bench_import(user_id, args.clients)
    _bench_list(app, user_id, args.clients)
    return 0


def _user_count(db, User) -> int:
    """Users already there (0 for a database with no tables yet)."""
    if not inspect(db.engine).has_table(User.__tablename__):
        return 0
    return db.session.scalar(select(func.count(User.id))) or 0


def _make_user() -> int:
    from mailer.extensions import db
    from mailer.models import User, utcnow

    user = User(
        email=f"bench-{time.time_ns()}@example.com",
        password_hash="!",  # noqa: S106 - not a hash: nobody logs in with it
        confirmed_at=utcnow(),
    )
    db.session.add(user)
    db.session.commit()
    return user.id


def _csv(count: int) -> bytes:
    lines = ["email;full name;comment"]
    for number in range(count):
        name = f"{FIRST_NAMES[number % len(FIRST_NAMES)]} {number}"
        lines.append(f"client{number}@{DOMAINS[number % len(DOMAINS)]};{name};row {number}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _bench_import(user_id: int, count: int) -> None:
    from mailer.extensions import db
    from mailer.mailings import client_import
    from mailer.models import User

    data = _csv(count)
    user = db.session.get(User, user_id)
    started = time.perf_counter()
    rows = client_import.parse(data).rows
    parsed = time.perf_counter()
    report = client_import.import_rows(owner=user, rows=rows)
    db.session.commit()
    client_import.refresh_statistics(report.imported)  # as the import page does
    seconds = time.perf_counter() - started
    rate = report.imported / seconds
    print(
        f"import: {report.imported:,} clients ({len(data) / 1e6:.1f} MB CSV) in {seconds:.2f} s"
        f" = {rate:,.0f} rows/s  (target > {IMPORT_TARGET:,} rows/s: "
        f"{'ok' if rate > IMPORT_TARGET else 'MISSED'})"
    )
    print(
        f"  of which: reading the CSV {parsed - started:.2f} s, validating and inserting"
        f" {seconds - (parsed - started):.2f} s"
    )
    if report.rejected:
        print(f"  rejected: {len(report.rejected)} (first: {report.rejected[0]})")


def _bench_list(app, user_id: int, count: int) -> None:
    from mailer.extensions import db

    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
    deep_page = max(1, count // 50 // 2)
    pages = {
        "list, first page": "/clients/",
        "list, sorted by name": "/clients/?sort=name",
        "list, newest first": "/clients/?sort=-created",
        "search (one match)": f"/clients/?q=client{count // 3}@",
        "search (many, by name)": "/clients/?q=Анна&sort=name",
        f"deep page {deep_page:,}": f"/clients/?page={deep_page}",
    }
    for label, path in pages.items():
        timings, queries = _time_requests(app, db, browser, path)
        median = statistics.median(timings)
        verdict = "ok" if median < LIST_TARGET_MS else "MISSED"
        print(
            f"{label:<26} median {median:7.1f} ms over {REQUESTS} requests, {queries} queries"
            f"  (target < {LIST_TARGET_MS} ms: {verdict})"
        )


def _time_requests(app, db, browser, path: str) -> tuple[list[float], int]:
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def record(*_args):
        statements.append("")

    timings = []
    browser.get(path)  # warm up: template compilation, connection pool
    event.listen(engine, "before_cursor_execute", record)
    try:
        for _number in range(REQUESTS):
            started = time.perf_counter()
            response = browser.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return timings, len(statements) // REQUESTS


if __name__ == "__main__":
    sys.exit(main())
