"""Small factories for test data; each commits so the app sees the rows."""

from __future__ import annotations

from werkzeug.security import generate_password_hash

from mailer.extensions import db
from mailer.models import User, UserRole, normalize_email, utcnow

PASSWORD = "correct-horse-battery"
# Hashing with the real scheme in every factory call would dominate test time.
_PASSWORD_HASH = generate_password_hash(PASSWORD)


def make_user(
    email: str = "someone@example.com",
    *,
    roles: list[str] = (),
    confirmed: bool = True,
    **fields,
) -> User:
    user = User(
        email=normalize_email(email),
        password_hash=_PASSWORD_HASH,
        confirmed_at=utcnow() if confirmed else None,
        roles=[UserRole(name=role) for role in roles],
        **fields,
    )
    db.session.add(user)
    db.session.commit()
    return user
