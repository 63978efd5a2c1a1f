"""SECRET_KEY and the earlier keys it replaced (SECRET_KEY_FALLBACKS).

Everything mailer signs is signed with SECRET_KEY. What an earlier key
signed still verifies while that key is listed in SECRET_KEY_FALLBACKS: the
unsubscribe links and the Message-IDs (which bounce reports return) of
emails already sent, and unexpired confirm and reset links. Flask reads the
same setting for its session cookie, and auth/sessions.py for Flask-Login's
"remember me" cookie, so a rotation logs nobody out either.
Dropping a key from the list ends what it signed.
"""

from __future__ import annotations

from flask import current_app


def secret_keys() -> list[str]:
    """SECRET_KEY, then the earlier keys still accepted, newest first."""
    config = current_app.config
    return [config["SECRET_KEY"], *config["SECRET_KEY_FALLBACKS"]]


def oldest_first() -> list[str]:
    """The same keys in itsdangerous's order: it signs with the last."""
    return secret_keys()[::-1]
