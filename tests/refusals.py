"""A database that refuses a write, for the tests of what the pages then say."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import text

from mailer.extensions import db


@contextmanager
def refusing(event: str, table: str, when: str = "1 = 1"):
    """A trigger by which the database refuses `event` (INSERT, UPDATE, DELETE) on the
    rows of `table` that match `when`, in words of its own."""
    postgres = db.engine.dialect.name == "postgresql"
    trigger = f"CREATE TRIGGER refuse BEFORE {event} ON {table} FOR EACH ROW WHEN ({when})"
    with db.engine.begin() as connection:
        if postgres:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
                    " AS $$ BEGIN RAISE EXCEPTION 'refused by the refuse trigger'; END $$"
                )
            )
            connection.execute(text(f"{trigger} EXECUTE FUNCTION refuse()"))
        else:
            connection.execute(
                text(f"{trigger} BEGIN SELECT RAISE(ABORT, 'refused by the refuse trigger'); END")
            )
    try:
        yield
    finally:
        db.session.rollback()  # the test's reads would keep the trigger's table locked
        with db.engine.begin() as connection:
            if postgres:
                connection.execute(text("DROP FUNCTION refuse() CASCADE"))  # and its trigger
            else:
                connection.execute(text("DROP TRIGGER refuse"))
