"""Accounts: registration, confirmation, passwords, profile, deletion (roles and
blocking are in staff.py).

Services flush; the route or command that called them commits.
"""

from __future__ import annotations

import logging
import secrets
import threading
from contextlib import suppress
from pathlib import Path
from typing import NamedTuple

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from mailer.auth import sessions, tokens
from mailer.auth.passwords import check_password_hash, generate_password_hash
from mailer.auth.throttle import account_mail_throttle
from mailer.deadlocks import commit_retrying_deadlocks
from mailer.extensions import db
from mailer.mail import MailError, send_email
from mailer.main.stats import blog_changed, service_counts_changed
from mailer.models import (
    Article,
    Attempt,
    Client,
    Mailing,
    Message,
    User,
    normalize_email,
    utcnow,
)

log = logging.getLogger(__name__)

# The emails some pages send only to an address with an account go out after the page
# has answered (`_send(..., after_the_answer=True)`); while testing, at once, unless a
# test of that asks otherwise.
AFTER_THE_ANSWER_WHEN_TESTING = False

AVATAR_MAX_BYTES = 2 * 1024 * 1024
# Recognised by their first bytes, never by the name or the browser's word.
AVATAR_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}


class AccountError(Exception):
    """A refused account action; the message is shown to the person who asked.

    Messages are lazy strings, so services also run outside a request (CLI, jobs).
    """


class EmailNotSent(AccountError):
    """An account email was not sent (the log says why); the message says what to do."""


# Registration and confirmation


def register_user(*, email: str, password: str, full_name: str, timezone: str, locale: str) -> None:
    """Create an unconfirmed user and email a confirmation link.

    An address that is already registered gets a note instead, so the page
    answers the same either way and never reveals who has an account.
    EmailNotSent when the email could not be sent: the caller rolls back, so no
    account waits for a link that never came.
    """
    existing = User.by_email(email)
    if existing is not None:
        generate_password_hash(password)  # as long as a new account takes: time tells nothing
        _send_already_registered(existing)
        return
    user = User(
        email=normalize_email(email),
        password_hash=generate_password_hash(password),
        full_name=full_name.strip(),
        timezone=timezone,
        locale=locale,
    )
    db.session.add(user)
    db.session.flush()
    send_confirmation(user)


def _send_already_registered(user: User, *, moving: bool = False) -> None:
    """Tell `user` that someone asked for their address: to register, or (`moving`) as the
    new login of another account."""
    _send(
        "auth/email/already_registered",
        user,
        _l("Your Mailer account"),
        login=_link("login"),
        reset=_link("forgot_password"),
        moving=moving,
    )


def send_confirmation(user: User, *, after_the_answer: bool = False) -> None:
    token = tokens.make_token(user, tokens.CONFIRM)
    _send(
        "auth/email/confirm",
        user,
        _l("Confirm your email address"),
        after_the_answer=after_the_answer,
        link=_link("confirm", token),
    )


def resend_confirmation(email: str) -> None:
    """A new link for an unconfirmed address; silently nothing otherwise.

    A failed send is logged, not raised: the answer must not tell whether the
    address has an account.
    """
    user = User.by_email(email)
    if user is not None and not user.is_confirmed:
        send_confirmation(user, after_the_answer=True)


def confirmation_link_user(token: str) -> User | None:
    """Whose address a confirmation link is for: unexpired, or expired but confirmed
    already (the page then only says so: asking for a new link would bring nothing)."""
    user = tokens.read_token(token, tokens.CONFIRM)
    if user is None:
        user = tokens.read_token(token, tokens.CONFIRM, expired_too=True)
        if user is not None and not user.is_confirmed:
            return None
    return user


def confirm_email(token: str) -> User | None:
    user = tokens.read_token(token, tokens.CONFIRM)
    if user is not None and not user.is_confirmed:
        user.confirmed_at = utcnow()
        db.session.flush()
    return user


# Changing the address


def request_email_change(user: User, new_email: str) -> None:
    """Email `new_email` a link that makes it the user's address once opened, and tell the
    current address. An address another account has gets a note instead (the one
    registration sends, saying what was asked), so the page answers the same and tells
    nobody who has an account.

    AccountError for the user's own address; EmailNotSent when the link was not sent.
    """
    new_email = normalize_email(new_email)
    if new_email == user.email:
        raise AccountError(_l("This is already your address."))
    user.email_change_asked_at = utcnow()  # the links of earlier asks die (tokens.py)
    existing = User.by_email(new_email)
    if existing is not None:
        _send_already_registered(existing, moving=True)
    else:
        link = _link("change_email", tokens.make_token(user, tokens.CHANGE_EMAIL, to=new_email))
        _send(
            "auth/email/change_email",
            user,
            _l("Confirm your new email address"),
            link=link,
            to=new_email,
        )
    # Either way, or the current address's inbox would tell whether the new one has an
    # account. After the answer, as the other emails that could tell by their time.
    _send(
        "auth/email/email_changing",
        user,
        _l("Your Mailer address is changing"),
        after_the_answer=True,
        new_email=new_email,
    )


def email_change_link(token: str) -> tuple[User, str] | None:
    """Whose address an unused, unexpired change link changes, and to what."""
    read = tokens.read_claims(token, tokens.CHANGE_EMAIL)
    if read is None:
        return None
    user, claims = read
    new_email = claims.get("to")
    return (user, new_email) if isinstance(new_email, str) else None


def change_email(token: str) -> User | None:
    """Make the link's address the user's; None when the link is dead. AccountError when
    another account took the address since the link was sent."""
    found = email_change_link(token)
    if found is None:
        return None
    user, new_email = found
    taken = AccountError(_l("Another account has this address by now."))
    if User.by_email(new_email) is not None:
        raise taken
    user.email = new_email
    if not user.is_confirmed:  # opening the link proves the address
        user.confirmed_at = utcnow()
    try:
        db.session.flush()
    except IntegrityError:  # another account took it between the check and the change
        db.session.rollback()
        raise taken from None
    return user


# Logging in


def authenticate(email: str, password: str) -> User | None:
    """The user with this email and password, or None (the caller counts the failure)."""
    user = User.by_email(email)
    if user is None:
        # Hash anyway, so the answer takes as long whether or not the email exists.
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def _dummy_hash() -> str:
    dummy = current_app.extensions.get("mailer_dummy_hash")
    if dummy is None:
        dummy = current_app.extensions["mailer_dummy_hash"] = generate_password_hash("x" * 16)
    return dummy


def record_login(user: User) -> None:
    user.previous_login_at, user.last_login_at = user.last_login_at, utcnow()
    db.session.flush()


# Passwords


def set_password(user: User, password: str, *, keep_login: str | None = None) -> None:
    """A new password ends every login of the user's but `keep_login` (a session key):
    whoever knew the old one is logged out with it."""
    user.password_hash = generate_password_hash(password)
    sessions.end_others(user, keep=keep_login)
    db.session.flush()


def request_password_reset(email: str) -> None:
    """Email a reset link when the address is registered (a blocked account gets an email
    that says it is blocked instead); nothing otherwise (the page answers the same).

    A failed send is logged, not raised, for the same reason.
    """
    user = User.by_email(email)
    if user is None:
        return
    if user.is_blocked:  # a new password would not let them in: say so, with no link
        _send(
            "auth/email/reset_blocked",
            user,
            _l("Your password was not reset"),
            after_the_answer=True,
        )
        return
    link = _link("reset_password", tokens.make_token(user, tokens.RESET))
    _send("auth/email/reset", user, _l("Reset your password"), after_the_answer=True, link=link)


def reset_link_user(token: str) -> User | None:
    """Whose password a reset link may change; None once used, expired or forged."""
    return tokens.read_token(token, tokens.RESET)


def reset_password(token: str, password: str) -> User | None:
    user = reset_link_user(token)
    if user is None:
        return None
    set_password(user, password)
    # Following the emailed link proves the address, too.
    if not user.is_confirmed:
        user.confirmed_at = utcnow()
    db.session.flush()
    return user


# Profile


def update_profile(
    *,
    user: User,
    full_name: str,
    phone: str | None,
    timezone: str,
    locale: str,
    sender_name: str = "",
    reply_to: str = "",
) -> User:
    user.full_name = full_name.strip()
    user.phone = (phone or "").strip() or None
    user.timezone = timezone
    user.locale = locale
    user.sender_name = " ".join(sender_name.split())  # one line: it goes into a header
    user.reply_to = reply_to.strip()
    db.session.flush()
    return user


def avatar_folder() -> Path:
    return Path(current_app.config["AVATAR_UPLOAD_DIR"])


class Picture(NamedTuple):
    data: bytes
    extension: str  # png, jpg or gif


def read_avatar(upload: FileStorage) -> Picture:
    """The upload as an avatar: a PNG, JPEG or GIF of at most AVATAR_MAX_BYTES, else
    AccountError saying what it is not. Read before anything is saved, so that the profile
    form shows this beside its other errors."""
    data = upload.read(AVATAR_MAX_BYTES + 1)
    if len(data) > AVATAR_MAX_BYTES:
        raise AccountError(_l("The picture is larger than 2 MB."))
    extension = next((ext for sig, ext in AVATAR_SIGNATURES.items() if data.startswith(sig)), None)
    if extension is None:
        raise AccountError(_l("The picture must be a PNG, JPEG or GIF image."))
    return Picture(data, extension)


def save_avatar(*, user: User, picture: Picture) -> None:
    """Store the picture under a random name, in place of the user's avatar."""
    folder = avatar_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{user.id}-{secrets.token_hex(8)}.{picture.extension}"
    (folder / name).write_bytes(picture.data)
    remove_avatar(user=user)
    user.avatar = name
    db.session.flush()


def remove_avatar(*, user: User) -> None:
    if user.avatar:
        (avatar_folder() / user.avatar).unlink(missing_ok=True)
        user.avatar = None
        db.session.flush()


# Deleting an account


def account_contents(user: User) -> dict[str, int]:
    """How many clients, messages, mailings and attempts deleting `user` deletes, and how
    many articles of theirs stay."""
    counted = {
        "clients": Client.owner_id,
        "messages": Message.owner_id,
        "mailings": Mailing.owner_id,
        "attempts": Attempt.owner_id,
        "articles": Article.author_id,
    }
    return {
        name: db.session.scalar(select(func.count()).where(column == user.id))
        for name, column in counted.items()
    }


def delete_account(user: User) -> None:
    """Delete `user` with all that is theirs: clients, messages, mailings, runs and their
    attempt log, logins (the database's ON DELETE rules), and their avatar's file;
    articles they wrote stay, without an author. Commits: a deletion PostgreSQL rolled
    back to break a deadlock with a worker writing the user's deliveries is done again
    (mailer/deadlocks.py). A send of theirs in progress sends nothing after the email
    in flight."""
    avatar = user.avatar
    commit_retrying_deadlocks(lambda: db.session.delete(user), "a user's deletion")
    if avatar:
        (avatar_folder() / avatar).unlink(missing_ok=True)
    service_counts_changed()  # their mailings and clients leave the home page's counts
    blog_changed()  # their articles' pages no longer name them


# Emails


def _link(endpoint: str, token: str = "") -> str:
    # Built from BASE_URL, not from the request: links in emails must point at the public site.
    paths = {
        "confirm": "/auth/confirm/",
        "reset_password": "/auth/reset/",
        "login": "/auth/login",
        "forgot_password": "/auth/reset",
        "change_email": "/auth/change-email/",
    }
    return f"{current_app.config['BASE_URL']}{paths[endpoint]}{token}"


def _send(
    template: str,
    user: User,
    subject: LazyString,
    *,
    to: str | None = None,
    after_the_answer: bool = False,
    **context,
) -> None:
    """Write to `user` (at `to`, their address unless given) in their language, whatever
    the language of the page that asked; past ACCOUNT_MAILS_PER_HOUR to that address,
    nothing (logged; the page answers as usual, so asking again and again floods no inbox
    and spends no SMTP quota).

    `after_the_answer`: sent on a thread of its own once it is written, so that the page
    answers at once: how long it took would otherwise tell that the address has an
    account (only one that has gets this email). A failure is then logged, not raised."""
    to = to or user.email
    throttle, keys = account_mail_throttle(), [f"to:{to}"]
    if throttle.take(keys):
        log.warning("not sent %s to user %s: its hourly limit is reached", template, user.id)
        return
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        text = render_template(f"{template}.txt", user=user, **context)
        subject = str(subject)
    if after_the_answer:
        _send_after_the_answer(to=to, subject=subject, text=text)
        return
    try:
        send_email(to=to, subject=subject, text=text)
    except MailError as error:
        raise EmailNotSent(_not_sent_reason(error)) from error


def _send_after_the_answer(*, to: str, subject: str, text: str) -> None:
    app = current_app._get_current_object()

    def send() -> None:
        with app.app_context(), suppress(MailError):  # send_email logged why
            send_email(to=to, subject=subject, text=text)

    if app.testing and not AFTER_THE_ANSWER_WHEN_TESTING:
        send()
        return
    threading.Thread(target=send, name="account-mail").start()


def _not_sent_reason(error: MailError) -> LazyString:
    if error.not_ascii:
        return _l(
            "We cannot send to an address with letters other than Latin before the @. "
            "Please use another address."
        )
    if error.refused:
        return _l("Our mail server refused this address. Check it or use another one.")
    return _l("We could not send you an email just now. Please try again in a few minutes.")
