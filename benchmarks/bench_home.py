"""`make bench-home`: the home page's throughput with and without the cache.

Builds a throwaway PostgreSQL database `<name>_home_bench` (dropped and
recreated on every run) with 10,000 users, 100,000 mailings, 1,000,000
clients and 1,000 articles using set-based SQL, then serves mailer with
gunicorn on 127.0.0.1 twice -- cached (Redis) and uncached
(CACHE_ENABLED=False) -- and loads the home page with `wrk` for a fixed
time each. Prints both throughputs and their ratio (target: >= 10x).

Settings (environment): DATABASE_URL (the server to use; default
postgresql://postgres@127.0.0.1:5432/mailer), REDIS_URL (default
redis://127.0.0.1:6379/0; the benchmark uses database BENCH_REDIS_DB, 11),
BENCH_PORT (5105), BENCH_SECONDS (10), BENCH_CONNECTIONS (16), BENCH_WORKERS (2).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from databases import fresh_postgres_database  # noqa: E402 - a sibling module

USERS, MAILINGS, CLIENTS, ARTICLES = 10_000, 100_000, 1_000_000, 1_000
DISTINCT_EMAILS = 400_000  # clients share addresses across owners, as real lists do
SIZES = {
    "users": USERS,
    "mailings": MAILINGS,
    "clients": CLIENTS,
    "articles": ARTICLES,
    "per_user": CLIENTS // USERS,
    "distinct_emails": DISTINCT_EMAILS,
}

POPULATE = [
    """INSERT INTO users (email, password_hash, full_name, timezone, locale, is_superuser,
                          is_blocked, confirmed_at, created_at)
        SELECT 'user' || g || '@bench.example', 'not-a-hash', 'User ' || g, 'UTC', 'en',
               false, false, now(), now()
        FROM generate_series(1, :users) AS g""",
    """INSERT INTO messages (owner_id, subject, body_text, body_html, created_at, updated_at)
        SELECT g, 'Subject ' || g, 'Hello {{ name }}', '', now(), now()
        FROM generate_series(1, :users) AS g""",
    """INSERT INTO mailings (owner_id, message_id, start_at, end_at, frequency, timezone,
                             is_active, status, created_at)
        SELECT (g % :users) + 1, (g % :users) + 1, now(), now() + interval '30 days',
               (ARRAY['once','daily','weekly','monthly'])[1 + g % 4], 'UTC',
               g % 10 <> 0, (ARRAY['created','started','completed'])[1 + g % 3], now()
        FROM generate_series(1, :mailings) AS g""",
    # 100 clients per user, in consecutive blocks, so (owner, email) stays unique.
    """INSERT INTO clients (owner_id, email, full_name, comment, hard_bounces, created_at)
        SELECT ((g - 1) / :per_user) + 1,
               'client' || ((g - 1) % :distinct_emails) || '@bench.example',
               'Client ' || g, '', 0, now()
        FROM generate_series(1, :clients) AS g""",
    """INSERT INTO articles (title, body, views, is_published, published_at, author_id,
                             created_at, updated_at)
        SELECT 'Article ' || g, repeat('Some **Markdown** text for the bench. ', 40), 0,
               true, now() - g * interval '1 hour', 1, now(), now()
        FROM generate_series(1, :articles) AS g""",
    "ANALYZE",
]


def redis_url() -> str:
    parts = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return urlunsplit(parts._replace(path=f"/{os.environ.get('BENCH_REDIS_DB', '11')}"))


def migrate(bench_url: str) -> None:
    from flask_migrate import upgrade

    from mailer import create_app

    app = create_app(environ={"SECRET_KEY": "bench", "DATABASE_URL": bench_url})
    with app.app_context():
        upgrade()


def populate(bench_url: str) -> float:
    started = time.perf_counter()
    engine = create_engine(bench_url)
    with engine.begin() as connection:
        for statement in POPULATE[:-1]:
            connection.execute(text(statement), SIZES)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(POPULATE[-1]))
    engine.dispose()
    return time.perf_counter() - started


def serve(bench_url: str, port: int, *, cached: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "SECRET_KEY": "bench",
        "FLASK_DEBUG": "0",
        "DATABASE_URL": bench_url,
        "REDIS_URL": redis_url(),
        "CACHE_ENABLED": "true" if cached else "false",
        "LOG_LEVEL": "WARNING",  # one log line per request would measure the logger
        "PYTHONWARNINGS": "ignore::UserWarning",  # Flask-Caching's "NullCache" notice
    }
    workers = os.environ.get("BENCH_WORKERS", "2")
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        workers,
        "--log-level",
        "warning",
        "wsgi:app",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - our own command
    wait_until_up(port)
    return server


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer on the home page within 30 s")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()


def load(port: int) -> tuple[float, str]:
    """Requests per second from wrk against the home page, and wrk's latency line."""
    seconds = os.environ.get("BENCH_SECONDS", "10")
    connections = os.environ.get("BENCH_CONNECTIONS", "16")
    output = subprocess.run(  # noqa: S603 - wrk with our own arguments
        [
            shutil.which("wrk") or "wrk",
            "--threads",
            "2",
            "--connections",
            connections,
            "--duration",
            f"{seconds}s",
            "--timeout",
            "30s",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = re.search(r"Latency.*", output).group(0)
    if "Non-2xx" in output:
        raise SystemExit(f"the home page answered errors under load:\n{output}")
    return rate, " ".join(latency.split())


def measure(bench_url: str, port: int, *, cached: bool) -> tuple[float, str]:
    server = serve(bench_url, port, cached=cached)
    try:
        return load(port)
    finally:
        stop(server)


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench-home needs wrk: apt-get install wrk")
    port = int(os.environ.get("BENCH_PORT", "5105"))
    bench_url = fresh_postgres_database(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/mailer"),
        "_home_bench",
    )
    print(f"database: {urlsplit(bench_url).path.lstrip('/')} (dropped and recreated)")
    migrate(bench_url)
    took = populate(bench_url)
    print(
        f"populated {USERS:,} users, {MAILINGS:,} mailings, {CLIENTS:,} clients, "
        f"{ARTICLES:,} articles in {took:.1f} s"
    )
    from redis import Redis

    Redis.from_url(redis_url()).flushdb()
    cached, cached_latency = measure(bench_url, port, cached=True)
    print(f"cached   (Redis):             {cached:10.1f} requests/s   {cached_latency}")
    uncached, uncached_latency = measure(bench_url, port, cached=False)
    print(f"uncached (CACHE_ENABLED=False): {uncached:8.1f} requests/s   {uncached_latency}")
    ratio = cached / uncached if uncached else float("inf")
    verdict = "meets" if ratio >= 10 else "MISSES"
    print(f"ratio: {ratio:.1f}x ({verdict} the 10x target)")


if __name__ == "__main__":
    main()
