"""Demo data for `make run` and `flask seed-demo`: one user of each role, and their data."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from mailer.extensions import db
from mailer.models import CONTENT_MANAGER, MANAGER, User, UserRole, utcnow

DEMO_PASSWORD = "demo-pass-123"  # noqa: S105 - printed for people trying mailer locally
# The seed's superuser and password; created only in debug (demo) mode, never in production.
SUPERUSER_DEMO_EMAIL = "admin@mailing.com"
SUPERUSER_DEMO_PASSWORD = "qwerty12"  # noqa: S105 - the seed's demo password, debug only


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


@dataclass(frozen=True)
class Seeded:
    """What one seed_demo() added: each part is added only where it is missing."""

    users: int
    articles: int
    mailings: int

    def counts(self) -> tuple[int, int, int]:
        return self.users, self.articles, self.mailings

    def __bool__(self) -> bool:
        return any(self.counts())


DEMO_USERS = (
    ("user", "user@example.com", "Demo User", ()),
    ("manager", "manager@example.com", "Demo Manager", (MANAGER,)),
    ("content manager", "writer@example.com", "Demo Writer", (CONTENT_MANAGER,)),
)


def demo_logins() -> list[DemoLogin]:
    logins = [DemoLogin(role, email, DEMO_PASSWORD) for role, email, _name, _roles in DEMO_USERS]
    if current_app.debug:
        logins.append(DemoLogin("superuser", SUPERUSER_DEMO_EMAIL, SUPERUSER_DEMO_PASSWORD))
    return logins


def offered_logins() -> list[DemoLogin]:
    """The demo logins the login page offers while mailer runs in debug mode (trying it on
    one's own machine): those whose users are there. None otherwise."""
    return present_logins() if current_app.debug else []


def present_logins() -> list[DemoLogin]:
    """The demo logins whose users are there with the demo's password still: one changed
    (`flask csu --password`, the profile) is no demo login any more."""
    logins = demo_logins()
    emails = [login.email for login in logins]
    hashes = dict(
        db.session.execute(
            select(User.email, User.password_hash).where(User.email.in_(emails))
        ).all()
    )
    return [
        login
        for login in logins
        if login.email in hashes and _still_demo(hashes[login.email], login.password)
    ]


@functools.lru_cache(maxsize=16)
def _still_demo(password_hash: str, password: str) -> bool:
    """Checked once per hash: a check costs a hashing (some 50 ms), and the login page asks."""
    return check_password_hash(password_hash, password)


def loads_by_itself() -> bool:
    """Whether `make run` loads the demo data into an empty database: only on the embedded
    default in debug mode, mailer tried at home. A database of one's own (PostgreSQL), or
    a server (debug off) would keep logins with known passwords, and with a mail server
    set the demo's due mailings would go out through it at once; there `flask seed-demo`
    loads it on purpose."""
    config = current_app.config
    return (
        current_app.debug
        and config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
        and not config["MAIL_SERVER"]
    )


def has_data() -> bool:
    return db.session.query(User.id).first() is not None


def seed_demo() -> Seeded:
    """Create the demo users, articles and mailings, skipping those there already; what it
    added. Flushes, the caller commits."""
    users = 0
    for _role, email, name, roles in DEMO_USERS:
        if User.by_email(email):
            continue
        users += 1
        user = User(
            email=email,
            full_name=name,
            password_hash=generate_password_hash(DEMO_PASSWORD),
            confirmed_at=utcnow(),
            roles=[UserRole(name=role) for role in roles],
        )
        db.session.add(user)
    if current_app.debug and not User.by_email(SUPERUSER_DEMO_EMAIL):
        from mailer.auth.staff import ensure_superuser

        ensure_superuser(password=SUPERUSER_DEMO_PASSWORD, email=SUPERUSER_DEMO_EMAIL)
        users += 1
    db.session.flush()
    from mailer.blog.demo_articles import load_demo_articles

    articles = load_demo_articles(author=User.by_email("writer@example.com"))
    from mailer.mailings.mailing_demo import load_main_app_data

    # main_app_data.json: the demo user's clients, messages, mailings
    return Seeded(users, articles, load_main_app_data())
