"""clients' ids are never reused on SQLite

An unsubscribe link names its client by id. Without AUTOINCREMENT, SQLite
gives the highest id to the next client once it is free again: the link in
an email to a client deleted since would then unsubscribe someone else's
client. The table is rebuilt with AUTOINCREMENT, which never hands out an
id twice. PostgreSQL's sequences never did; nothing changes there.

(An id freed before this migration can still be handed out once: SQLite
keeps no record of it.)

Revision ID: 20a554f40412
Revises: e811457d03d7
Create Date: 2026-12-05 17:40:17

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '20a554f40412'
down_revision = 'e811457d03d7'
branch_labels = None
depends_on = None


def upgrade():
    _rebuild(autoincrement=True)


def downgrade():
    _rebuild(autoincrement=False)


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    with op.batch_alter_table(
        'clients', recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}
    ):
        pass
