"""runs numbered per mailing

The pages called a run by its id, which counts every mailing's runs: one
mailing's showed as #4, #2, #1. Each run now has its place among its
mailing's runs, 1, 2, 3…, given in the order the runs were created.

Revision ID: 79445647ea84
Revises: 1142da74dff1
Create Date: 2026-12-06 09:21:50.451184

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '79445647ea84'
down_revision = '1142da74dff1'
branch_labels = None
depends_on = None

NUMBER_EXISTING = (
    'UPDATE runs SET number ='
    ' (SELECT count(*) FROM runs AS earlier'
    '  WHERE earlier.mailing_id = runs.mailing_id AND earlier.id <= runs.id)'
)


def upgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.Integer(), nullable=True))
    op.execute(NUMBER_EXISTING)
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.alter_column('number', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint('one_run_per_number', ['mailing_id', 'number'])


def downgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint('one_run_per_number', type_='unique')
        batch_op.drop_column('number')
