"""deliveries: status out of the indexes

Each email changes its delivery's status three times (claimed, sending, sent).
While the status was in two indexes, every change wrote a new entry in all four
of the table's indexes; with no index on it, PostgreSQL rewrites the row in
place (a HOT update) and touches none. One worker sends about a tenth more
emails a second (make bench-send).

A run now finds its deliveries through (run_id, id); the per-minute sweeps
find the waiting and stalled ones through the unfinished runs, which a
partial index keeps at hand.

Revision ID: 2805bff9caba
Revises: 20a554f40412
Create Date: 2026-12-05 19:04:57.033666

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2805bff9caba'
down_revision = '20a554f40412'
branch_labels = None
depends_on = None

UNFINISHED = 'finished_at IS NULL'


def upgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(
            'ix_runs_unfinished', ['id'],
            postgresql_where=sa.text(UNFINISHED), sqlite_where=sa.text(UNFINISHED),
        )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_run', ['run_id', 'id'])
        batch_op.drop_index('ix_deliveries_run_status')
        batch_op.drop_index('ix_deliveries_waiting')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE deliveries SET (fillfactor = 50)')


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_waiting', ['status', 'next_try_at'])
        batch_op.create_index('ix_deliveries_run_status', ['run_id', 'status'])
        batch_op.drop_index('ix_deliveries_run')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_unfinished')
