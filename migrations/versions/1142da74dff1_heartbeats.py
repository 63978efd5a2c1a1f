"""heartbeats

When each periodic task last finished (dispatch, every minute): /healthz
answers 503 once dispatch is late, so a stopped scheduler is noticed.

Revision ID: 1142da74dff1
Revises: ba8324d20e22
Create Date: 2026-12-06 05:16:39.314828

"""
from alembic import op
import sqlalchemy as sa

import mailer.models.types


# revision identifiers, used by Alembic.
revision = '1142da74dff1'
down_revision = 'ba8324d20e22'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('heartbeats',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('beat_at', mailer.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_heartbeats'))
    )


def downgrade():
    op.drop_table('heartbeats')
