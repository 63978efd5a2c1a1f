"""delivery retries and quota pause, client list indexes

Revision ID: aad190d5e2d1
Revises: 8a8374871e9c
Create Date: 2026-11-29 08:25:39.128358

"""
from alembic import op
import sqlalchemy as sa

import mailer.models.types

# Autogenerate does not see CHECK constraints: the "claimed" delivery state
# (delivery/ledger.py) widens the list of known states by hand.
OLD_STATUSES = "status IN ('pending', 'retry', 'sending', 'sent', 'failed', 'cancelled', 'unknown')"
NEW_STATUSES = "status IN ('pending', 'retry', 'claimed', 'sending', 'sent', 'failed', 'cancelled', 'unknown')"

# revision identifiers, used by Alembic.
revision = 'aad190d5e2d1'
down_revision = '8a8374871e9c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clients_owner_id'))
        batch_op.create_index('ix_clients_owner_created', ['owner_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_clients_owner_name', ['owner_id', 'full_name', 'id'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_try_at', mailer.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deliveries_waiting', ['status', 'next_try_at'], unique=False)
        batch_op.drop_constraint('known_status', type_='check')
        batch_op.create_check_constraint('known_status', NEW_STATUSES)

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_until', mailer.models.types.UTCDateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('paused_until')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('known_status', type_='check')
        batch_op.create_check_constraint('known_status', OLD_STATUSES)
        batch_op.drop_index('ix_deliveries_waiting')
        batch_op.drop_column('next_try_at')

    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_index('ix_clients_owner_name')
        batch_op.drop_index('ix_clients_owner_created')
        batch_op.create_index(batch_op.f('ix_clients_owner_id'), ['owner_id'], unique=False)

