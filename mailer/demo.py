"""Demo data for `make run` and `flask seed-demo`: one user of each role, and their data."""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.security import generate_password_hash

from mailer.extensions import db
from mailer.models import CONTENT_MANAGER, MANAGER, User, UserRole, utcnow

DEMO_PASSWORD = "demo-pass-123"  # noqa: S105 - printed for people trying mailer locally


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


DEMO_USERS = (
    ("user", "user@example.com", "Demo User", ()),
    ("manager", "manager@example.com", "Demo Manager", (MANAGER,)),
    ("content manager", "writer@example.com", "Demo Writer", (CONTENT_MANAGER,)),
)


def demo_logins() -> list[DemoLogin]:
    return [DemoLogin(role, email, DEMO_PASSWORD) for role, email, _name, _roles in DEMO_USERS]


def has_data() -> bool:
    return db.session.query(User.id).first() is not None


def seed_demo() -> list[DemoLogin]:
    """Create the demo users (skipping any that exist); flushes, the caller commits."""
    for _role, email, name, roles in DEMO_USERS:
        if User.by_email(email):
            continue
        user = User(
            email=email,
            full_name=name,
            password_hash=generate_password_hash(DEMO_PASSWORD),
            confirmed_at=utcnow(),
            roles=[UserRole(name=role) for role in roles],
        )
        db.session.add(user)
    db.session.flush()
    return demo_logins()
