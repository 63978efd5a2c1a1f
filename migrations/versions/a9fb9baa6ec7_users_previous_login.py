"""users: previous login

The profile said "Last login:" and gave the login just made. It now gives the
one before it, so a login the user did not make can be noticed. Users who
have not logged in since have none yet, and the profile then says nothing.

Revision ID: a9fb9baa6ec7
Revises: 2805bff9caba
Create Date: 2026-12-05 19:21:52.500122

"""
from alembic import op
import sqlalchemy as sa

import mailer.models.types


# revision identifiers, used by Alembic.
revision = 'a9fb9baa6ec7'
down_revision = '2805bff9caba'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('previous_login_at', mailer.models.types.UTCDateTime(timezone=True))
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('previous_login_at')
