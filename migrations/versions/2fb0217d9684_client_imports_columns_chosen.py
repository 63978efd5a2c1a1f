"""client_imports: the columns an import reads, chosen on its preview

A file whose header names its columns in words mailer does not know (or a file
without a header whose address is not in the first column) could not be
imported as it was. Its preview now lets the owner choose which column holds
each field; the import reads the columns the preview showed. Empty for the
imports before this one: they read what their header named.

Revision ID: 2fb0217d9684
Revises: 1ee81269c3d2
Create Date: 2026-12-07 03:19:05.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '2fb0217d9684'
down_revision = '1ee81269c3d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('client_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('columns', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('client_imports', schema=None) as batch_op:
        batch_op.drop_column('columns')
