"""users: why a manager blocked them

A blocked user was told only that they were blocked, and other managers saw
no more than a badge. The manager who blocks may now say why (at most 500
characters); the user is told it, and the users screen shows it with who
blocked them and when. Users blocked before have no reason.

Revision ID: 7e3f4a5b6c8d
Revises: 6d2e3f4a5b7c
Create Date: 2026-12-06 19:45:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '7e3f4a5b6c8d'
down_revision = '6d2e3f4a5b7c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('block_reason', sa.String(length=500), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('block_reason')
