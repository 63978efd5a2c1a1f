"""Small factories for test data; each commits so the app sees the rows."""

from __future__ import annotations

from werkzeug.security import generate_password_hash

from mailer.delivery import tallies
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


def login_key(user: User, *, user_agent: str = "pytest", ip: str = "127.0.0.1") -> str:
    """A new login of `user` on the server: the key a browser's session cookie holds."""
    from mailer.auth import sessions

    sessions.start(user, user_agent=user_agent, ip=ip)
    db.session.commit()
    return user.get_id()


def make_article(
    title: str = "An article",
    *,
    body: str = "Some **text**.",
    published: bool = True,
    author: User | None = None,
    **fields,
):
    from mailer.models import Article

    article = Article(
        title=title,
        body=body,
        is_published=published,
        published_at=fields.pop("published_at", utcnow() if published else None),
        author=author,
        **fields,
    )
    db.session.add(article)
    db.session.commit()
    return article


def make_client(owner: User, email: str = "client@example.com", **fields):
    from mailer.models import Client

    client = Client(owner_id=owner.id, email=normalize_email(email), **fields)
    db.session.add(client)
    db.session.commit()
    return client


def make_client_import(owner: User, data: bytes = b"email\nanna@example.com\n", **fields):
    """An upload waiting for its confirmation (status "pending"), unless `fields` say more."""
    from mailer.models import ClientImport

    fields.setdefault("filename", "clients.csv")
    task = ClientImport(owner_id=owner.id, data=data, **fields)
    db.session.add(task)
    db.session.commit()
    return task


def make_message(owner: User, subject: str = "Hello", **fields):
    from mailer.models import Message

    fields.setdefault("body_text", "Hello {{ client.full_name }}!")
    message = Message(owner_id=owner.id, subject=subject, **fields)
    db.session.add(message)
    db.session.commit()
    return message


def make_mailing(owner: User, *, message=None, clients=(), **fields):
    """A mailing straight into the table (no service): start now, end in 30 days, once."""
    from datetime import timedelta

    from mailer.models import Mailing

    start = fields.pop("start_at", utcnow())
    mailing = Mailing(
        owner_id=owner.id,
        message=message or make_message(owner),
        clients=list(clients),
        start_at=start,
        end_at=fields.pop("end_at", start + timedelta(days=30)),
        next_send_at=fields.pop("next_send_at", start),
        **fields,
    )
    db.session.add(mailing)
    db.session.commit()
    return mailing


def make_run(mailing, *, scheduled_for=None, **fields):
    from mailer.models import Run

    run = Run(mailing_id=mailing.id, scheduled_for=scheduled_for or utcnow(), **fields)
    db.session.add(run)
    db.session.commit()
    return run


def make_delivery(run, client, *, status: str = "sent", **fields):
    from mailer.models import Delivery

    delivery = Delivery(run_id=run.id, client_id=client.id, status=status, **fields)
    db.session.add(delivery)
    run.total += 1
    db.session.flush()
    if status in ("sent", "failed", "unknown", "cancelled"):
        tallies.add(run.id, **{status: 1})  # as the sender counts it
    db.session.commit()
    return delivery


def make_attempt(run, client, *, success: bool = True, **fields):
    """An attempt of `client` in `run`, owned like its mailing, with a plausible SMTP reply."""
    from mailer.models import Attempt

    fields.setdefault("reply_code", 250 if success else 550)
    fields.setdefault("reply", "2.0.0 Ok: queued" if success else "5.1.1 User unknown")
    attempt = Attempt(
        owner_id=run.mailing.owner_id,
        mailing_id=run.mailing_id,
        run_id=run.id,
        client_id=client.id,
        recipient=client.email,
        success=success,
        **fields,
    )
    db.session.add(attempt)
    db.session.flush()
    tallies.add(run.id, attempts=1, successes=int(success))
    db.session.commit()
    return attempt
