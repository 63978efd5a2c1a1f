"""unlogged_sends: the emails of a day the attempt log does not hold

The daily sending limit's count, when lost (Redis without its data, or the
embedded process restarted), is made anew from the attempt log's count of the
day. Test emails are not in the log, and a mailing deleted that day takes its
attempts along: this table keeps how many such emails each day had, and the
count made anew adds them.

Revision ID: 3a1b2c4d5e6f
Revises: 2fb0217d9684
Create Date: 2026-12-07 11:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '3a1b2c4d5e6f'
down_revision = '2fb0217d9684'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'unlogged_sends',
        sa.Column('day', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('sends', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', name=op.f('pk_unlogged_sends')),
    )


def downgrade():
    op.drop_table('unlogged_sends')
