"""runs: a copy of the message as the run began, kept while it sends

A run of thousands of clients is sent in many batches, and each batch read the
mailing's message as it was then: an edit saved during a send reached the
clients of the batches after it, and one run sent two emails. A run now keeps
the message as it began until it finishes. Empty on the runs from before: the
sender reads the message for those, as it did.

Revision ID: 5d6e7f8a9b0c
Revises: 4b2c3d5e6f7a
Create Date: 2026-12-07 17:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '5d6e7f8a9b0c'
down_revision = '4b2c3d5e6f7a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('body_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('body_html', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('body_html')
        batch_op.drop_column('body_text')
        batch_op.drop_column('subject')
