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
