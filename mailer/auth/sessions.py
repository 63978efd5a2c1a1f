"""Logins kept on the server, so that logging out ends one for good.

Flask's session is a signed cookie: on its own, a copy of it (or of the
remember cookie) would stay logged in after "Log out" until it expired.
Each login is therefore a row in user_sessions; the cookies hold its key
(User.get_id), the row the key's hash. Logging out deletes the row, and a
cookie naming a row that is gone logs nobody in. "Where you are logged in"
(/auth/logins) lists a user's logins, and any of them can be ended there.

Like the services, these functions flush and the caller commits; only the
loader's note of a login's last activity commits on its own (`_touch`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app, request, session
from flask_babel import gettext as _
from flask_login import COOKIE_NAME, current_user, decode_cookie, logout_user
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError

from mailer import signing
from mailer.extensions import db
from mailer.models import User, UserSession, utcnow

log = logging.getLogger(__name__)

# "Last active" is written at most this often: not a write on every page.
TOUCH_EVERY = timedelta(minutes=5)

# Looked for in this order: Edge's and Opera's agents name Chrome too, Chrome's Safari.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("YaBrowser/", "Yandex Browser"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def start(user: User, *, user_agent: str, ip: str, now: datetime | None = None) -> None:
    """A new login for `user`: its key goes into User.get_id for Flask-Login to store.
    The user's logins unused for longer than a remembered login lasts are deleted."""
    now = now or utcnow()
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id, _ended(now)))
    key = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            user_id=user.id,
            key_hash=_hash(key),
            created_at=now,
            last_seen_at=now,
            user_agent=user_agent[:300],
            ip=ip[:45],
        )
    )
    db.session.flush()
    user.session_key = key


def user_for(key: str, now: datetime | None = None) -> User | None:
    """Flask-Login's user loader: the user whose login `key` names, while it lasts."""
    now = now or utcnow()
    found = db.session.execute(
        select(User, UserSession.id, UserSession.last_seen_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.key_hash == _hash(key))
    ).first()
    if found is None or found.last_seen_at < _oldest_alive(now):
        return None
    if found.last_seen_at < now - TOUCH_EVERY:
        _touch(found.id, now)
    user = found.User
    user.session_key = key
    return user


def remembered_under_old_key() -> None:
    """Before anything asks Flask-Login who is logged in: a "remember me" cookie signed
    with a key in SECRET_KEY_FALLBACKS logs in as one signed with SECRET_KEY does, and
    the response signs it again with SECRET_KEY.

    Flask-Login (0.6) checks that cookie against SECRET_KEY alone, so without this a
    change of key would end every remembered login with its browser's session. This
    does what Flask-Login does with a cookie it can read: the session names the login."""
    if "_user_id" in session or session.get("_remember") == "clear":
        return
    cookie = request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME))
    if not cookie or decode_cookie(cookie) is not None:
        return  # none, or one Flask-Login reads itself
    for key in signing.secret_keys()[1:]:
        login_key = decode_cookie(cookie, key=key)
        if login_key is not None and user_for(login_key) is not None:
            session["_user_id"] = login_key
            session["_fresh"] = False
            session["_remember"] = "set"  # Flask-Login's after_request signs it anew
            return


def log_out() -> None:
    """End the current login: its row goes, and with it every copy of its cookies."""
    key = current_user.session_key
    if key is not None:
        db.session.execute(delete(UserSession).where(UserSession.key_hash == _hash(key)))
        db.session.flush()
    logout_user()


def end_others(user: User, *, keep: str | None = None) -> None:
    """End every login of `user` but the one `keep` names (None: all)."""
    ending = delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        ending = ending.where(UserSession.key_hash != _hash(keep))
    db.session.execute(ending)


def end_one(user: User, session_id: int) -> bool:
    """End one of `user`'s logins (not another user's); False when there is none such."""
    ended = db.session.execute(
        delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id)
    ).rowcount
    return ended == 1


def forget_ended(now: datetime | None = None) -> int:
    """Delete every login that has ended by disuse (a periodic job's, every hour): it
    logs nobody in, and where and with what browser it was used is kept no longer."""
    return db.session.execute(delete(UserSession).where(_ended(now or utcnow()))).rowcount


class Login(NamedTuple):
    """One login as the list of where one is logged in shows it."""

    id: int
    browser: str
    ip: str
    created_at: datetime
    last_seen_at: datetime
    is_current: bool  # the browser looking at the list


def logins_of(user: User) -> list[Login]:
    """The user's logins that still last, the most recently used first."""
    current = _hash(user.session_key) if user.session_key else None
    rows = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, ~_ended(utcnow()))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return [
        Login(
            id=row.id,
            browser=describe_agent(row.user_agent),
            ip=row.ip,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            is_current=row.key_hash == current,
        )
        for row in rows
    ]


def describe_agent(user_agent: str) -> str:
    """A browser's name from its User-Agent ("Firefox on Linux"); the agent itself if
    neither its browser nor its system is known."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or user_agent[:80] or _("Unknown browser")


def _touch(session_id: int, now: datetime) -> None:
    # Its own transaction: the request's session may have writes that are not the loader's
    # to commit. A miss (SQLite busy with another writer) only leaves "last active" older.
    try:
        with db.engine.begin() as connection:
            connection.execute(
                update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
            )
    except OperationalError as error:
        log.info("could not note a login's last activity: %s", error)


def _oldest_alive(now: datetime) -> datetime:
    """A login last used before this has ended: unused for longer than it may last."""
    config = current_app.config
    return now - max(config["PERMANENT_SESSION_LIFETIME"], config["REMEMBER_COOKIE_DURATION"])


def _ended(now: datetime):
    """A query's condition: the login has ended by disuse (user_for refuses it)."""
    return UserSession.last_seen_at < _oldest_alive(now)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
