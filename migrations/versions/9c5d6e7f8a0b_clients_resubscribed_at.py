"""clients: when a client subscribed again by their own link

A client who unsubscribed may subscribe again from the unsubscribe page; their
owner saw them back among the receiving clients with nothing to say why. The
moment is now kept and shown on the client's page. Empty for every client until
they do.

Revision ID: 9c5d6e7f8a0b
Revises: 8b4c5d6e7f9a
Create Date: 2026-12-07 01:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import mailer.models.types


# revision identifiers, used by Alembic.
revision = '9c5d6e7f8a0b'
down_revision = '8b4c5d6e7f9a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'resubscribed_at', mailer.models.types.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('resubscribed_at')
