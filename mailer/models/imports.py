"""An import of clients from a file, from its upload to its report.

The row holds the uploaded file itself, so whichever web process shows the
preview and whichever worker runs the import (on another machine, perhaps)
read the same bytes. Its life: `pending` (uploaded, previewed; removed after
a day if never confirmed) -> `queued` (confirmed, waiting for a worker) ->
`running` (a worker claimed it) -> `done` (its report kept, the file dropped)
or `failed` (nothing imported, the reason kept). A worker killed mid-import
leaves it `running` with nothing imported (the import is one transaction):
the page tells it by its silent heartbeat and offers to import it again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from mailer.extensions import db
from mailer.models.mailings import OwnedMixin
from mailer.models.types import UTCDateTime, utcnow
from mailer.models.users import User

IMPORT_STATUSES = ("pending", "queued", "running", "done", "failed")


class ClientImport(OwnedMixin, db.Model):
    __tablename__ = "client_imports"
    __table_args__ = (
        CheckConstraint(f"status IN {IMPORT_STATUSES!r}", name="known_status"),
        # The owner's imports, newest first: the import page lists them.
        Index("ix_client_imports_owner_created", "owner_id", "created_at"),
    )

    REJECTED_KEPT = 1000  # lines not imported that the report lists; it counts them all
    EMAIL_KEPT = 320  # characters kept of a rejected line's address (a cell may hold anything)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    filename: Mapped[str] = mapped_column(String(255), default="")
    # The upload as it came; None once the import has ended. Read only when needed.
    data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Set on confirming: what the preview showed and the owner chose.
    sheet: Mapped[int | None]  # a workbook's sheet, by its number
    rows_expected: Mapped[int] = mapped_column(default=0)  # the preview's count, for the bar
    # Field -> the column it is read from, when chosen on the preview (client_import.FIELDS);
    # None: the columns the header names.
    columns: Mapped[dict[str, int] | None] = mapped_column(JSON)
    mailing_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    locale: Mapped[str] = mapped_column(String(8), default="en")  # the report's language

    # When it was confirmed, or handed to a worker again: one not started long after is
    # offered to a worker again.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Set by the worker. `tries` counts its claims: an import claimed again (after a
    # worker was killed) cannot be finished by the worker that held it before.
    tries: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The report.
    imported: Mapped[int] = mapped_column(default=0)
    unsubscribed: Mapped[int] = mapped_column(default=0)
    bounced: Mapped[int] = mapped_column(default=0)
    marked: Mapped[int] = mapped_column(default=0)
    joined: Mapped[int] = mapped_column(default=0)  # mailings the new clients joined
    rejected_count: Mapped[int] = mapped_column(default=0)
    # The first REJECTED_KEPT lines not imported: [line, email, reason], by line.
    rejected: Mapped[list[list]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")  # why a failed import failed

    owner: Mapped[User] = relationship()
