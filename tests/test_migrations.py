"""The migrations build exactly the schema the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mailer.extensions import db
from mailer.models import schema_filter


# SQLite cannot reflect expression indexes; the only one is PostgreSQL's (schema_filter).
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrations_match_the_models(app):
    # conftest built the test database with `flask db upgrade`.
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": schema_filter(connection.dialect.name)},
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_the_tally_migration_counts_what_runs_sent_before_it(app, user):
    """Runs from before the tallies keep their counts on every page after the upgrade."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from mailer.delivery import tallies
    from tests import factories

    mailing_id, owner_id = factories.make_mailing(user).id, user.id
    clients = [
        (c.id, c.email)
        for c in (factories.make_client(user, f"c{n}@example.com") for n in range(4))
    ]
    db.session.remove()
    downgrade(revision="7742a62dbf0e")  # the schema before the tallies
    try:
        with db.engine.begin() as connection:
            run_id = connection.execute(
                text(
                    "INSERT INTO runs (mailing_id, scheduled_for, forced, created_at)"
                    " VALUES (:m, CURRENT_TIMESTAMP, false, CURRENT_TIMESTAMP) RETURNING id"
                ),
                {"m": mailing_id},
            ).scalar()
            for (client_id, address), status, tries in zip(
                clients, ("sent", "sent", "failed", "retry"), (1, 2, 1, 1), strict=True
            ):
                connection.execute(
                    text(
                        "INSERT INTO deliveries (run_id, client_id, status, tries, updated_at)"
                        " VALUES (:r, :c, :s, :t, CURRENT_TIMESTAMP)"
                    ),
                    {"r": run_id, "c": client_id, "s": status, "t": tries},
                )
                for attempt in range(tries):
                    connection.execute(
                        text(
                            "INSERT INTO attempts (owner_id, mailing_id, run_id, client_id,"
                            " recipient, attempted_at, success, reply_code, reply) VALUES"
                            " (:o, :m, :r, :c, :e, CURRENT_TIMESTAMP, :ok, 250, '')"
                        ),
                        {
                            "o": owner_id,
                            "m": mailing_id,
                            "r": run_id,
                            "c": client_id,
                            "e": address,
                            "ok": status == "sent" and attempt == tries - 1,
                        },
                    )
    finally:
        upgrade()
    counts = tallies.counts(run_id)
    assert (counts.total, counts.sent, counts.failed, counts.pending) == (4, 2, 1, 1)
    assert (counts.attempts, counts.successes) == (5, 2)


def test_runs_from_before_the_numbers_are_numbered_in_the_order_they_were_made(app, user):
    from flask_migrate import downgrade, upgrade

    from mailer.models import Run
    from tests import factories

    first, second = factories.make_mailing(user), factories.make_mailing(user)
    ids = [factories.make_run(mailing).id for mailing in (first, second, first, first, second)]
    db.session.remove()
    downgrade(revision="1142da74dff1")  # the schema before the numbers: they go
    upgrade()

    numbers = dict(db.session.execute(db.select(Run.id, Run.number)).all())
    assert [numbers[run_id] for run_id in ids] == [1, 1, 2, 3, 2]


def test_migrations_keep_the_rows_that_refer_to_a_table_they_rebuild(app, user):
    """SQLite rebuilds a table to change it; with its foreign keys enforced, dropping the
    old table would take the runs' deliveries and attempts along (ON DELETE CASCADE)."""
    from flask_migrate import downgrade, upgrade

    from mailer.models import Attempt, Delivery, Run
    from tests import factories

    client = factories.make_client(user, "ann@example.com")
    run = factories.make_run(factories.make_mailing(user, clients=[client]))
    db.session.add(Delivery(run_id=run.id, client_id=client.id, status="sent"))
    factories.make_attempt(run, client)
    db.session.commit()
    db.session.remove()
    downgrade(revision="7742a62dbf0e")  # rebuilds attempts, then runs (its `total` goes)
    upgrade()

    counts = [db.session.scalar(db.select(db.func.count(m.id))) for m in (Run, Delivery, Attempt)]
    assert counts == [1, 1, 1]


def test_addresses_kept_with_an_ascii_domain_are_written_in_letters_and_their_links_work(
    app, user, other_user
):
    """Kept as typed before (`xn--`), beside the same mailbox in letters: the migration
    writes them in letters, except where the owner has that spelling too."""
    from flask_migrate import downgrade, upgrade

    from mailer.delivery.unsubscribe import client_for_token, unsubscribe_token
    from mailer.models import Client, User
    from tests import factories

    def kept_as(row, email: str) -> int:
        db.session.execute(db.update(type(row)).filter_by(id=row.id).values(email=email))
        db.session.commit()
        return row.id

    nina = kept_as(factories.make_client(user, "a@example.com"), "nina@xn--mnchen-3ya.de")
    twice = kept_as(factories.make_client(user, "b@example.com"), "vera@xn--e1afmkfd.xn--p1ai")
    factories.make_client(user, "vera@пример.рф")
    account = kept_as(other_user, "olga@xn--e1afmkfd.xn--p1ai")
    link = unsubscribe_token(nina, "nina@xn--mnchen-3ya.de")  # in an email sent before
    db.session.remove()
    downgrade(revision="3a1b2c4d5e6f")  # nothing to undo: either spelling reaches the mailbox
    upgrade()

    assert db.session.get(Client, nina).email == "nina@münchen.de"
    assert db.session.get(Client, twice).email == "vera@xn--e1afmkfd.xn--p1ai"  # the owner's call
    assert db.session.get(User, account).email == "olga@пример.рф"
    assert client_for_token(link).id == nina


@pytest.mark.parametrize("table", ["deliveries", "attempts"])
def test_deleting_a_client_finds_its_rows_by_index(app, table):
    """ON DELETE looks up each deleted client's deliveries and attempts by client_id:
    without an index led by it, deleting a user with 20,000 clients took minutes."""
    from sqlalchemy import inspect

    inspector = inspect(db.engine)
    keys = inspector.get_indexes(table) + inspector.get_unique_constraints(table)
    assert any(key["column_names"][0] == "client_id" for key in keys), keys
