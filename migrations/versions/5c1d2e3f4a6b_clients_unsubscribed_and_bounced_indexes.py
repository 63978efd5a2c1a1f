"""clients: partial indexes for the list's unsubscribed and bounced filters

Each holds only the clients in that state (usually a few of a million), in
email order, so the filtered list reads them instead of every client.

Revision ID: 5c1d2e3f4a6b
Revises: 79445647ea84
Create Date: 2026-12-06 15:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '5c1d2e3f4a6b'
down_revision = '79445647ea84'
branch_labels = None
depends_on = None

STATES = {
    'ix_clients_owner_unsubscribed': 'unsubscribed_at IS NOT NULL',
    'ix_clients_owner_bounced': 'bounced_at IS NOT NULL',
}


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        for name, condition in STATES.items():
            batch_op.create_index(
                name, ['owner_id', 'email'], unique=False,
                postgresql_where=sa.text(condition), sqlite_where=sa.text(condition),
            )


def downgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        for name in STATES:
            batch_op.drop_index(name)
