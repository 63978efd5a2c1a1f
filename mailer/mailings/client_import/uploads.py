"""The uploaded file between its preview and its import: a pending ClientImport row.

The preview's page is the import's (by its id, read through the owner's
scope: a stranger's is not found), so previews open in several tabs each
import their own file. An upload never confirmed is removed after a day; an
owner keeps at most PENDING_MAX_PER_OWNER of them, and the reports of their
ENDED_KEPT_PER_OWNER newest imports; each upload removes what is beyond.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from mailer.extensions import db
from mailer.models import ClientImport, User, utcnow

PENDING_MAX_AGE = timedelta(days=1)
PENDING_MAX_PER_OWNER = 10
ENDED_KEPT_PER_OWNER = 20


def keep_upload(*, owner: User, data: bytes, filename: str) -> ClientImport:
    """Keep an uploaded file until it is confirmed or cancelled; flushes."""
    _forget_old(owner)
    upload = ClientImport(owner_id=owner.id, data=data, filename=filename[:255])
    db.session.add(upload)
    db.session.flush()
    return upload


def latest_imports(owner: User, count: int) -> list[ClientImport]:
    """The owner's `count` newest imports (confirmed: not the uploads still previewed)."""
    return _newest(owner, ClientImport.status != "pending", count)


def imports_underway(owner: User, count: int) -> list[ClientImport]:
    """The owner's `count` newest imports still queued or running."""
    return _newest(owner, ClientImport.status.in_(("queued", "running")), count)


def _newest(owner: User, condition, count: int) -> list[ClientImport]:
    return (
        ClientImport.owned_by(owner)
        .filter(condition)
        .order_by(ClientImport.created_at.desc(), ClientImport.id.desc())
        .limit(count)
        .all()
    )


def discard_upload(upload: ClientImport) -> None:
    db.session.delete(upload)
    db.session.flush()


def _forget_old(owner: User) -> None:
    """Anyone's uploads a day old, and the owner's beyond what they keep (see above)."""
    table = ClientImport.__table__
    db.session.execute(
        delete(table).where(
            table.c.status == "pending", table.c.created_at < utcnow() - PENDING_MAX_AGE
        )
    )
    for statuses, kept in (
        (("pending",), PENDING_MAX_PER_OWNER - 1),  # room for the one being kept
        (("done", "failed"), ENDED_KEPT_PER_OWNER),
    ):
        newest = (
            select(table.c.id)
            .where(table.c.owner_id == owner.id, table.c.status.in_(statuses))
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(kept)
        )
        db.session.execute(
            delete(table).where(
                table.c.owner_id == owner.id,
                table.c.status.in_(statuses),
                table.c.id.not_in(newest.scalar_subquery()),
            )
        )
