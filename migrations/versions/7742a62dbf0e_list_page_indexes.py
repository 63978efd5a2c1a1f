"""list page indexes: client search (pg_trgm, PostgreSQL only), attempts by time

Revision ID: 7742a62dbf0e
Revises: aad190d5e2d1
Create Date: 2026-11-29 09:30:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '7742a62dbf0e'
down_revision = 'aad190d5e2d1'
branch_labels = None
depends_on = None

# The search index is written by hand: the model declares it for PostgreSQL
# only (Index.ddl_if), which autogenerate does not see, and SQLite gets
# nothing. Its expression must stay the model's client_search_text, character
# for character, or the planner will not use it for the search.
SEARCH_INDEX = (
    "CREATE INDEX ix_clients_search ON clients"
    " USING gin (((lower(full_name) || E'\\x1f') || email) gin_trgm_ops)"
)


def upgrade():
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index('ix_attempts_time', ['attempted_at'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # A trusted extension since PostgreSQL 13: the database's owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(SEARCH_INDEX)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_clients_search")

    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_time')
