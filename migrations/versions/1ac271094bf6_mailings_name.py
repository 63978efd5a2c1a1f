"""mailings: name

A mailing's lists, page and log called it by its message's subject: a
template ("Hello {{ client.full_name }}") and the same for every mailing of
one message. An optional name now says which is which; an empty one (every
mailing made before) still shows the subject.

Revision ID: 1ac271094bf6
Revises: a75b5f87876f
Create Date: 2026-12-05 22:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1ac271094bf6'
down_revision = 'a75b5f87876f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailings', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('name', sa.String(length=200), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('mailings', schema=None) as batch_op:
        batch_op.drop_column('name')
