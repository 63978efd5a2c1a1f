"""`make bench`: client import throughput and the response times of every list page.

Runs on a throwaway database, never on your data:
- PostgreSQL (DATABASE_URL set): a database of its own, `<name>_bench`, emptied
  and migrated on every run (created when missing);
- SQLite (nothing set): a temporary file, removed afterwards;
- `--in-place`: the configured database itself, refused when it has users
  unless `--yes` is given too.

It creates one user, imports N generated clients from a CSV file through the
real import service (parse, validate, chunked insert), and times the clients
list (first page, sorts, searches, the deepest page linked) through the Flask
test client, logged in: the median of 20 requests each (fewer for a slow
page, see pages.py). On PostgreSQL it then gives the same user M mailings
and about A attempts and times the mailing, attempt-log and report pages and
the managers' screens (bench_mailings.py). Last, a second user, who has a mailing
that takes new clients, imports N/10 clients: the import then links each to it;
and a third imports N/10 clients from an .xlsx workbook.

    .venv/bin/python benchmarks/bench_clients.py [--clients 1000000] [--mailings 10000]
        [--attempts 1000000] [--in-place --yes]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_mailings  # noqa: E402 - this folder is on sys.path: the script's own
from databases import fresh_postgres_database  # noqa: E402 - a sibling module
from dotenv import dotenv_values  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from pages import logged_in, time_pages  # noqa: E402
from sqlalchemy import func, inspect, select  # noqa: E402

if TYPE_CHECKING:
    from mailer.models import ClientImport

IMPORT_TARGET = 20_000  # rows per second
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
    parser.add_argument("--mailings", type=int, default=10_000, help="mailings (0: none)")
    parser.add_argument(
        "--attempts", type=int, help="attempts in the log (default: as many as clients)"
    )
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
        return fresh_postgres_database(url), lambda: None
    folder = tempfile.mkdtemp(prefix="mailer-bench-")
    path = Path(folder) / "bench.db"

    def cleanup():
        path.unlink(missing_ok=True)
        os.rmdir(folder)

    return f"sqlite:///{path}", cleanup


def _run(args: argparse.Namespace, environ: dict[str, str]) -> int:
    from mailer import create_app
    from mailer.extensions import db
    from mailer.models import User

    app = create_app(overrides={"WTF_CSRF_ENABLED": False}, environ=environ)
    with app.app_context():
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}", flush=True)
        users = _user_count(db, User)
        if args.in_place and users and not args.yes:
            print(f"refusing: this database has {users} users; add --yes to run on it anyway")
            return 2
        upgrade()
        user_id = _make_user()
        imported = _bench_import(user_id, args.clients)
    missed = [] if imported else ["import"]
    missed += _bench_list(app, user_id, args.clients)
    if args.mailings > 0:
        attempts = args.clients if args.attempts is None else args.attempts
        missed += bench_mailings.run(app, user_id, mailings=args.mailings, attempts=attempts)
    with app.app_context():
        joining = "import into a mailing that takes new clients"
        if not _bench_import(_make_user(takes_new_clients=True), args.clients // 10, joining):
            missed.append(joining)
        _bench_workbook_import(_make_user(), args.clients // 10)
    print("all targets met" if not missed else f"missed: {', '.join(missed)}")
    return 0


def _user_count(db, User) -> int:
    """Users already there (0 for a database with no tables yet)."""
    if not inspect(db.engine).has_table(User.__tablename__):
        return 0
    return db.session.scalar(select(func.count(User.id))) or 0


def _make_user(*, takes_new_clients: bool = False) -> int:
    """A user; with `takes_new_clients`, one who has a mailing that every client they
    import joins (so the import also links each of them to it)."""
    from datetime import timedelta

    from mailer.extensions import db
    from mailer.models import Mailing, Message, User, utcnow

    user = User(
        email=f"bench-{time.time_ns()}@example.com",
        password_hash="!",  # noqa: S106 - not a hash: nobody logs in with it
        confirmed_at=utcnow(),
    )
    db.session.add(user)
    if takes_new_clients:
        message = Message(owner=user, subject="News", body_text="Hello")
        start = utcnow() + timedelta(days=1)
        db.session.add(
            Mailing(
                owner=user,
                message=message,
                start_at=start,
                end_at=start + timedelta(days=30),
                next_send_at=start,
                takes_new_clients=True,
            )
        )
    db.session.commit()
    return user.id


def _clients(count: int):
    """Each generated client's cells: email, full name, comment."""
    for number in range(count):
        name = f"{FIRST_NAMES[number % len(FIRST_NAMES)]} {number}"
        yield f"client{number}@{DOMAINS[number % len(DOMAINS)]}", name, f"row {number}"


def _csv(count: int) -> bytes:
    lines = ["email;full name;comment", *(";".join(cells) for cells in _clients(count))]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _xlsx(count: int) -> bytes:
    import openpyxl  # a dev dependency: the tests write workbooks with it too

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Clients")
    sheet.append(["email", "full name", "comment"])
    for cells in _clients(count):
        sheet.append(cells)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def _run_import_job(user_id: int, data: bytes) -> tuple[ClientImport, float]:
    """Import `data` as a confirmed import's job does (its heartbeat, its one transaction,
    its report on the row, ANALYZE after it); the row after it, and the seconds it took."""
    from mailer.extensions import db
    from mailer.mailings.client_import import background
    from mailer.models import ClientImport, Mailing

    # The mailings the preview ticks: those that take the clients an import adds.
    taking = Mailing.query.filter_by(owner_id=user_id, takes_new_clients=True)
    task = ClientImport(
        owner_id=user_id,
        data=data,
        status="queued",
        filename="bench",
        mailing_ids=[mailing.id for mailing in taking],
    )
    db.session.add(task)
    db.session.commit()
    started = time.perf_counter()
    background.run(task.id)
    seconds = time.perf_counter() - started
    db.session.expire_all()
    return db.session.get(ClientImport, task.id), seconds


def _bench_import(user_id: int, count: int, what: str = "import") -> bool:
    """Import `count` clients as the import's job does, printed as `what`; whether it met
    the target."""
    data = _csv(count)
    task, seconds = _run_import_job(user_id, data)
    rate = task.imported / seconds
    print(
        f"{what}: {task.imported:,} clients ({len(data) / 1e6:.1f} MB CSV)"
        f" in {seconds:.2f} s"
        f" = {rate:,.0f} rows/s  (target > {IMPORT_TARGET:,} rows/s: "
        f"{'ok' if rate > IMPORT_TARGET else 'MISSED'})",
        flush=True,
    )
    if task.rejected_count or task.status != "done":
        print(f"  {task.status}: rejected {task.rejected_count} {task.rejected[:1]} {task.error}")
    return rate > IMPORT_TARGET


def _bench_workbook_import(user_id: int, count: int) -> None:
    """Import `count` clients from an .xlsx file as the import's job does: its sheet read
    as CSV, then the CSV import (for comparison with it, no target of its own)."""
    from mailer.mailings import client_import

    data = _xlsx(count)
    started = time.perf_counter()
    client_import.as_csv(data)
    read = time.perf_counter() - started
    task, seconds = _run_import_job(user_id, data)
    print(
        f"import from a workbook: {task.imported:,} clients ({len(data) / 1e6:.1f} MB .xlsx)"
        f" in {seconds:.2f} s = {task.imported / seconds:,.0f} rows/s, of which reading the"
        f" sheet about {read:.2f} s (for comparison, not a target)",
        flush=True,
    )


def _bench_list(app, user_id: int, count: int) -> list[str]:
    from mailer.mailings import client_queries
    from mailer.mailings.pagination import COUNT_LIMIT

    linked = min(count, COUNT_LIMIT)
    deepest = max(1, -(-linked // client_queries.PER_PAGE))
    pages = {
        "clients, first page": "/clients/",
        "clients, sorted by name": "/clients/?sort=name",
        "clients, newest first": "/clients/?sort=-created",
        "search (one match)": f"/clients/?q=client{count // 3}@",
        "search (many, by email)": "/clients/?q=Анна",
        "search (many, by name)": "/clients/?q=Анна&sort=name",
        "search (no match)": "/clients/?q=nobody-at-all",
        "bounced (none of them)": "/clients/?state=bounced",
        "receiving mailings, sorted by name": "/clients/?state=receiving&sort=name",
        "search (many) among the unsubscribed": "/clients/?q=Анна&state=unsubscribed",
        f"deepest page linked ({deepest:,})": f"/clients/?page={deepest}",
    }
    return time_pages(app, logged_in(app, user_id), pages)


if __name__ == "__main__":
    sys.exit(main())
