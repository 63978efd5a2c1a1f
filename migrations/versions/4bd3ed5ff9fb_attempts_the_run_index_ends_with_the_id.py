"""attempts: the run index ends with the id

The mailing page says when a sending run's latest try failed for a passing
reason (the mail server unreachable, say). (run_id, id) finds that try at
once, where (run_id) alone read every attempt of the run. It replaces the old
index, so an email sent still writes one entry for it.

Revision ID: 4bd3ed5ff9fb
Revises: a9fb9baa6ec7
Create Date: 2026-12-05 21:25:08.570724

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '4bd3ed5ff9fb'
down_revision = 'a9fb9baa6ec7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index('ix_attempts_run', ['run_id', 'id'])
        batch_op.drop_index('ix_attempts_run_id')


def downgrade():
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index('ix_attempts_run_id', ['run_id'])
        batch_op.drop_index('ix_attempts_run')
