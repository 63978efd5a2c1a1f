"""Signed, expiring tokens for links in emails (confirm an address, reset a password,
change the address).

Each purpose has its own salt, so a token made for one cannot be used for another.
A token carries a fingerprint of what it acts on (the address; but for a confirmation,
the password hash too; for a change of address, when the latest was asked), so it
stops working once it has been used, or once the account moved on: a reset link
mailed to an old address dies with the address, a pending address change with a new
password or a newer ask (a typo in the first must not hand the login to the
mistyped address's owner). One made under an
earlier SECRET_KEY works while that key is in SECRET_KEY_FALLBACKS (mailer/signing.py).
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from mailer import signing
from mailer.extensions import db
from mailer.models import User

CONFIRM = "confirm-email"
RESET = "reset-password"
CHANGE_EMAIL = "change-email"  # carries the new address as "to"
MAX_AGE = {CONFIRM: 3 * 24 * 3600, RESET: 2 * 3600, CHANGE_EMAIL: 24 * 3600}


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing.oldest_first(), salt=f"mailer.{purpose}")


def _fingerprint(user: User, purpose: str) -> str:
    state = user.email if purpose == CONFIRM else f"{user.email}\n{user.password_hash}"
    if purpose == CHANGE_EMAIL and user.email_change_asked_at is not None:
        state += f"\n{user.email_change_asked_at.isoformat()}"  # a newer ask kills this link
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def make_token(user: User, purpose: str, **claims: str) -> str:
    """`claims`: what else the link says (CHANGE_EMAIL's new address, "to")."""
    data = {"id": user.id, "fp": _fingerprint(user, purpose), **claims}
    return _serializer(purpose).dumps(data)


def read_token(token: str, purpose: str, *, expired_too: bool = False) -> User | None:
    """The user a valid, unexpired (or with `expired_too`, expired), unused token was made
    for; None otherwise."""
    read = read_claims(token, purpose, expired_too=expired_too)
    return read[0] if read is not None else None


def read_claims(token: str, purpose: str, *, expired_too: bool = False) -> tuple[User, dict] | None:
    """read_token's user, with everything the token says."""
    read = _signed(token, purpose, expired_too=expired_too)
    return read if read is not None and _unused(*read, purpose) else None


def is_used(token: str, purpose: str) -> bool:
    """Whether a sound, unexpired token no longer works because what it acts on changed
    since it was made: it was used (or another change overtook it, a password changed in
    the profile say)."""
    read = _signed(token, purpose)
    return read is not None and not _unused(*read, purpose)


def _unused(user: User, data: dict, purpose: str) -> bool:
    """Whether what the token acts on is still as it was when the token was made."""
    return data.get("fp") == _fingerprint(user, purpose)


def _signed(token: str, purpose: str, *, expired_too: bool = False) -> tuple[User, dict] | None:
    """The user a token was signed for, with what it says, used or not; None when it is
    forged, expired (unless `expired_too`) or its user is gone."""
    try:
        max_age = None if expired_too else MAX_AGE[purpose]
        data = _serializer(purpose).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    user = db.session.get(User, data.get("id"))
    return None if user is None else (user, data)
