"""Users and their roles."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.extensions import db
from mailer.models.types import UTCDateTime, utcnow

MANAGER = "manager"
CONTENT_MANAGER = "content-manager"
ROLES = (MANAGER, CONTENT_MANAGER)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness and look-ups ignore case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    avatar: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    is_superuser: Mapped[bool] = mapped_column(default=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_blocked: Mapped[bool] = mapped_column(default=False)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The login before the last one: the profile shows it, so a login the user did not
    # make can be noticed (the last one is the user's own, just made).
    previous_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised by "Log out everywhere": every session and remember cookie made before it
    # names an older one, and ends (get_id).
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    blocked_by: Mapped[User | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"

    def get_id(self) -> str:
        """What the session and the remember cookie hold: the id, a password stamp and the
        session generation.

        A new password changes the stamp, and "Log out everywhere" the generation, so
        every other session of this user (another browser, a stolen cookie) is logged out
        at its next request.
        """
        return f"{self.id}:{self.password_stamp}:{self.session_generation}"

    @property
    def password_stamp(self) -> str:
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    @classmethod
    def from_session_id(cls, session_id: str) -> User | None:
        """The user a session id names, if its stamp and generation are still current (a
        session from before generations, "id:stamp", is of generation 0)."""
        user_id, _, rest = session_id.partition(":")
        stamp, _, generation = rest.partition(":")
        if not user_id.isdigit():
            return None
        user = db.session.get(cls, int(user_id))
        if (
            user is None
            or not hmac.compare_digest(stamp, user.password_stamp)
            or (generation or "0") != str(user.session_generation)
        ):
            return None
        return user

    @property
    def role_names(self) -> set[str]:
        return {role.name for role in self.roles}

    def has_role(self, name: str) -> bool:
        return name in self.role_names

    @property
    def is_manager(self) -> bool:
        return self.has_role(MANAGER)

    @property
    def is_content_manager(self) -> bool:
        return self.has_role(CONTENT_MANAGER)

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    @classmethod
    def by_email(cls, email: str) -> User | None:
        return db.session.scalar(select(cls).where(cls.email == normalize_email(email)))


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(f"name IN {ROLES!r}", name="known_role"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


def normalize_email(email: str) -> str:
    return email.strip().lower()
