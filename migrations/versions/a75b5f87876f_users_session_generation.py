"""users: session generation

"Log out everywhere" on the profile raises it; every session and remember
cookie names the generation it was made in, and an older one ends. A session
made before this column names none, and counts as generation 0, so nobody is
logged out by the upgrade.

Revision ID: a75b5f87876f
Revises: 4bd3ed5ff9fb
Create Date: 2026-12-05 21:35:13.834780

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a75b5f87876f'
down_revision = '4bd3ed5ff9fb'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
