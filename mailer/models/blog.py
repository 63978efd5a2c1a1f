"""Blog articles, written by content managers in the admin panel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.extensions import db
from mailer.models.types import UTCDateTime, utcnow
from mailer.models.users import User


class Article(db.Model):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str | None] = mapped_column(String(255))
    # What the image shows, for who cannot see it; empty: it only adorns the article.
    image_alt: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # The language it is written in (i18n.LANGUAGES): its pages mark it, so that a screen
    # reader reads a Russian article in a Russian voice on an English page.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    views: Mapped[int] = mapped_column(default=0)
    is_published: Mapped[bool] = mapped_column(default=False, index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    author: Mapped[User | None] = relationship()

    def __str__(self) -> str:
        return self.title
