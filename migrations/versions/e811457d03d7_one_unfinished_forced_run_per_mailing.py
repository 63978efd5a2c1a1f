"""one unfinished forced run per mailing

"Send now" clicked twice (a double click, two tabs) started two runs, and every
client received the mailing twice. A unique index over the unfinished forced
runs makes the second one impossible, whatever the timing.

A database that already holds two unfinished forced runs of one mailing keeps
them both sending: the later ones are marked as not forced, so the index can
be built. They are the second copies the index now prevents.

Revision ID: e811457d03d7
Revises: c4e1f0a7d2b6
Create Date: 2026-12-05 17:02:13.230126

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e811457d03d7'
down_revision = 'c4e1f0a7d2b6'
branch_labels = None
depends_on = None

UNFINISHED_FORCED = 'forced AND finished_at IS NULL'


def upgrade():
    op.execute(
        'UPDATE runs SET forced = false WHERE forced AND finished_at IS NULL AND id NOT IN'
        ' (SELECT min(id) FROM runs WHERE forced AND finished_at IS NULL GROUP BY mailing_id)'
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(
            'one_unfinished_forced_run', ['mailing_id'], unique=True,
            postgresql_where=sa.text(UNFINISHED_FORCED), sqlite_where=sa.text(UNFINISHED_FORCED),
        )


def downgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('one_unfinished_forced_run')
