"""The benchmarks' throwaway PostgreSQL database: `<name><suffix>` on the configured server."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import create_engine, text

from config import sqlalchemy_url


def fresh_postgres_database(url: str, suffix: str = "_bench") -> str:
    """Drop and recreate `<name><suffix>` beside the database `url` names; return its URL."""
    parts = urlsplit(sqlalchemy_url(url))
    name = (parts.path.lstrip("/") or "mailer").removesuffix("_test").removesuffix(suffix)
    bench_name = f"{name}{suffix}"
    admin = create_engine(
        urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{bench_name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{bench_name}"'))
    admin.dispose()
    return urlunsplit(parts._replace(path=f"/{bench_name}"))
