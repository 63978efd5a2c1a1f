"""Users and their roles."""

from __future__ import annotations

import unicodedata
from contextlib import suppress
from datetime import datetime

import idna
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
    # Why, in the manager's words: the blocked user is told it, other managers see it.
    BLOCK_REASON_MAX = 500
    block_reason: Mapped[str] = mapped_column(
        String(BLOCK_REASON_MAX), default="", server_default=""
    )
    # Their mailings' emails: the From name (the sending account's address stays, as the
    # provider requires) and where the clients' replies go; empty: the configured sender's.
    SENDER_NAME_MAX = 100
    sender_name: Mapped[str] = mapped_column(String(SENDER_NAME_MAX), default="", server_default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The login before the last one: the profile shows it, so a login the user did not
    # make can be noticed (the last one is the user's own, just made).
    previous_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the user last asked to change their address: in each change link's fingerprint
    # (auth/tokens.py), so a new ask kills the links sent before (a typo's among them).
    email_change_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    blocked_by: Mapped[User | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"

    # The key of the login this user was loaded through (auth/sessions.py); not a column.
    session_key = None

    def get_id(self) -> str:
        """What the session and the remember cookie hold: the key of this login's row in
        user_sessions, so that logging out ends that login for good, wherever its cookies
        were copied (auth/sessions.py)."""
        if self.session_key is None:
            raise RuntimeError("start a session (auth.sessions.start) before logging in")
        return self.session_key

    def __eq__(self, other: object) -> bool:
        # UserMixin compares get_id(), which names a login now: one user, many logins.
        if not isinstance(other, User):
            return NotImplemented
        return self is other or (self.id is not None and self.id == other.id)

    __hash__ = UserMixin.__hash__  # defining __eq__ would unset it

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
        # An account kept as typed before normalize_email mapped beyond ASCII is found too.
        normal = normalize_email(email)
        spellings = {normal, email.strip().lower()}
        found = select(cls).where(cls.email.in_(spellings)).order_by((cls.email == normal).desc())
        return db.session.scalar(found.limit(1))


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(f"name IN {ROLES!r}", name="known_role"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class UserSession(db.Model):
    """One login: its key's hash (the cookie holds the key), and where and when it was used.

    Deleting the row logs that login out (auth/sessions.py).
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the key: the table's rows, if read, log nobody in.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")


def normalize_email(email: str) -> str:
    """An address as it is kept and compared: one mailbox, one address. Without the spaces
    around it and in lower case; beyond ASCII in one Unicode form (NFC: a "й" typed as "и"
    and a breve is the one "й"), its domain as IDNA maps it (UTS 46: a full-width
    `ｅxample.com` is `example.com`, where its email would go) and in letters
    (`xn--mnchen-3ya.de` as `münchen.de`, as people type it; emails go to the ASCII form)."""
    address = email.strip().lower()
    if address.isascii() and "xn--" not in address:
        return address  # nearly every address: nothing more to map
    address = unicodedata.normalize("NFC", address)
    local, at, domain = address.rpartition("@")
    if at:
        with suppress(UnicodeError):  # a domain IDNA refuses is kept as written
            return f"{local}@{idna.decode(idna.encode(domain, uts46=True))}"
    return address
