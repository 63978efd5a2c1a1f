"""users: when the latest change of address was asked, so the links of earlier asks die

A change link stayed good for its day after a newer ask: a typo in the first ask
left whoever owns the mistyped address able to take over the login. The time of
the latest ask is now in each link's fingerprint. Links sent before this
migration keep working until the user's next ask.

Revision ID: 82660e8c338d
Revises: 6e7f8a9b0c1d
Create Date: 2026-12-07 19:54:12.470495

"""
import sqlalchemy as sa
from alembic import op

import mailer.models.types


# revision identifiers, used by Alembic.
revision = '82660e8c338d'
down_revision = '6e7f8a9b0c1d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'email_change_asked_at',
                mailer.models.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_change_asked_at')
