"""mailings: take new clients

A mailing's clients were fixed when it was saved, so a newsletter's new
subscribers had to be chosen again by editing it. A mailing may now take
the clients its owner adds later; every mailing made before does not.

Revision ID: 6d2e3f4a5b7c
Revises: 5c1d2e3f4a6b
Create Date: 2026-12-06 17:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '6d2e3f4a5b7c'
down_revision = '5c1d2e3f4a6b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailings', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('takes_new_clients', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('mailings', schema=None) as batch_op:
        batch_op.drop_column('takes_new_clients')
