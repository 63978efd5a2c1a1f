"""addresses with an internationalised domain kept in its letters

An address typed or imported with its domain in ASCII form (`user@xn--mnchen-3ya.de`)
was kept so, beside the same mailbox typed in letters (`user@münchen.de`): two
clients, and every mailing sent that mailbox two emails. Addresses are now kept with
the domain in letters (models.normalize_email); this writes those kept before so.
An address whose letters another client of the same owner (or another account)
already has stays as it is: which one to keep is the owner's choice.

Revision ID: 4b2c3d5e6f7a
Revises: 3a1b2c4d5e6f
Create Date: 2026-12-07 13:40:00.000000

"""
from contextlib import suppress

import idna
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '4b2c3d5e6f7a'
down_revision = '3a1b2c4d5e6f'
branch_labels = None
depends_on = None


def _in_letters(address):
    """normalize_email's reading of the domain, as of this migration."""
    local, _, domain = address.rpartition("@")
    with suppress(UnicodeError):
        return f"{local}@{idna.decode(domain)}"
    return address


def _write_in_letters(connection, table, scope):
    """The table's addresses with an xn-- domain, in letters, unless one of the same
    `scope` (a column, or None: the whole table) already has that spelling."""
    same_scope = f" AND {scope} = :scope" if scope else ""
    scope_column = scope or "NULL"
    rows = connection.execute(
        sa.text(f"SELECT id, email, {scope_column} AS scope FROM {table} WHERE email LIKE '%xn--%'")
    ).all()
    for row in rows:
        letters = _in_letters(row.email)
        if letters == row.email:
            continue
        taken = connection.execute(
            sa.text(f"SELECT 1 FROM {table} WHERE email = :email{same_scope}"),
            {"email": letters, "scope": row.scope},
        ).first()
        if taken is None:
            connection.execute(
                sa.text(f"UPDATE {table} SET email = :email WHERE id = :id"),
                {"email": letters, "id": row.id},
            )


def upgrade():
    connection = op.get_bind()
    _write_in_letters(connection, "clients", "owner_id")
    _write_in_letters(connection, "users", None)


def downgrade():
    pass  # either spelling reaches the mailbox: nothing to undo
