"""users: the From name and the Reply-To of their mailings' emails

Every user's emails came from the configured sender, name and all, and the
clients' replies went to the sending account's mailbox, which no user reads.
Each user may now name the sender of their emails and give the address their
clients' replies go to. Empty, for every user until they do: as before.

Revision ID: 8b4c5d6e7f9a
Revises: 7e3f4a5b6c8d
Create Date: 2026-12-06 22:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '8b4c5d6e7f9a'
down_revision = '7e3f4a5b6c8d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('sender_name', sa.String(length=100), server_default='', nullable=False)
        )
        batch_op.add_column(
            sa.Column('reply_to', sa.String(length=254), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('reply_to')
        batch_op.drop_column('sender_name')
