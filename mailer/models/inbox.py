"""How far mailer has read a mailbox (delivery/inbox.py): one row per account and folder."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import UTCDateTime


class InboxMark(db.Model):
    """The folder's UIDVALIDITY and the last UID whose message was dealt with.

    IMAP numbers a folder's messages with ascending UIDs that stay valid while its
    UIDVALIDITY does; both are unsigned 32-bit numbers, too large for an integer column.
    """

    __tablename__ = "inbox_marks"

    # "username@server/folder": another account's folder starts from its beginning.
    mailbox: Mapped[str] = mapped_column(String(500), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
