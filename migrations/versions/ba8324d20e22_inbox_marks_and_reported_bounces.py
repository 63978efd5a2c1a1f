"""inbox marks and reported bounces

mailer reads the sending account's mailbox (delivery/inbox.py): the mailto
unsubscribes of List-Unsubscribe and the bounce reports (DSNs) a relay sends
after it took an email. `inbox_marks` keeps, per account and folder, its
UIDVALIDITY and the last UID dealt with. An attempt written from a report is
`reported`, and one such attempt per delivery is allowed (a partial unique
index: the attempts of SMTP conversations, nearly all of them, are not in
it), so a report read twice never bounces a client twice.

Revision ID: ba8324d20e22
Revises: 49b6cb7f51af
Create Date: 2026-12-06 02:29:47.719980

"""
from alembic import op
import sqlalchemy as sa

import mailer.models.types


# revision identifiers, used by Alembic.
revision = 'ba8324d20e22'
down_revision = '49b6cb7f51af'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('inbox_marks',
    sa.Column('mailbox', sa.String(length=500), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('read_at', mailer.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('mailbox', name=op.f('pk_inbox_marks'))
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('reported', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            'one_report_per_delivery', ['delivery_id'], unique=True,
            postgresql_where=sa.text('reported'), sqlite_where=sa.text('reported'),
        )


def downgrade():
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('one_report_per_delivery')
        batch_op.drop_column('reported')

    op.drop_table('inbox_marks')
