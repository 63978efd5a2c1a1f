"""client_imports: an import of clients, from its upload to its report

The uploaded file waited between the preview and the confirmation in a folder of
the web server (CLIENT_IMPORT_DIR), and the import ran in the confirming request.
Now the upload is kept in this table, so a worker on any machine can run the
import in the background, and the page shows its progress, then its report.
Uploads still waiting in the folder are not carried over: they were a day old at
most, and their owner uploads the file again.

Revision ID: 1ee81269c3d2
Revises: 9c5d6e7f8a0b
Create Date: 2026-12-07 02:34:20.502302

"""
import sqlalchemy as sa
from alembic import op

import mailer.models.types


# revision identifiers, used by Alembic.
revision = '1ee81269c3d2'
down_revision = '9c5d6e7f8a0b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('client_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', mailer.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sheet', sa.Integer(), nullable=True),
    sa.Column('rows_expected', sa.Integer(), nullable=False),
    sa.Column('mailing_ids', sa.JSON(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('queued_at', mailer.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('started_at', mailer.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', mailer.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('unsubscribed', sa.Integer(), nullable=False),
    sa.Column('bounced', sa.Integer(), nullable=False),
    sa.Column('marked', sa.Integer(), nullable=False),
    sa.Column('joined', sa.Integer(), nullable=False),
    sa.Column('rejected_count', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'queued', 'running', 'done', 'failed')", name=op.f('ck_client_imports_known_status')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_client_imports_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_imports'))
    )
    with op.batch_alter_table('client_imports', schema=None) as batch_op:
        batch_op.create_index('ix_client_imports_owner_created', ['owner_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('client_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_client_imports_owner_created')

    op.drop_table('client_imports')