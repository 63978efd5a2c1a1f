"""The uploaded file between the preview and the confirmation: kept in
CLIENT_IMPORT_DIR under the owner's id and a random token, removed after a
day if never confirmed.

The preview page carries its token, so previews open in several tabs each
import their own file. An owner keeps at most PENDING_MAX_PER_OWNER of them;
a new upload removes the oldest beyond that.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from pathlib import Path

from flask import current_app

from mailer.models import User

PENDING_MAX_AGE_SECONDS = 24 * 3600
PENDING_MAX_PER_OWNER = 10
# What secrets.token_urlsafe gives; anything else (a path, a huge field) is no token.
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _imports_dir() -> Path:
    return Path(current_app.config["CLIENT_IMPORT_DIR"])


def _pending_path(owner: User, token: str) -> Path | None:
    # The owner's id is part of the name: a token never opens someone else's file.
    # The token comes from a form: check it before it becomes a file name.
    if not TOKEN.fullmatch(token):
        return None
    return _imports_dir() / f"{owner.id}-{token}.csv"


def keep_upload(*, owner: User, data: bytes) -> str:
    """Store an uploaded file until it is confirmed; returns its token."""
    folder = _imports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _forget_old(folder)
    _forget_oldest_of(owner, folder)
    token = secrets.token_urlsafe(16)
    path = _pending_path(owner, token)
    path.write_bytes(data)
    return token


def pending_upload(*, owner: User, token: str) -> bytes | None:
    path = _pending_path(owner, token)
    if path is None or not path.is_file():
        return None
    return path.read_bytes()


def discard_upload(*, owner: User, token: str) -> None:
    path = _pending_path(owner, token)
    if path is not None:
        path.unlink(missing_ok=True)


def _forget_old(folder: Path) -> None:
    """Uploads never confirmed are removed after a day."""
    oldest = time.time() - PENDING_MAX_AGE_SECONDS
    for path in folder.glob("*.csv"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < oldest:
                path.unlink()


def _forget_oldest_of(owner: User, folder: Path) -> None:
    """Make room for one more upload of the owner's: their oldest beyond the limit go."""
    kept = []
    for path in folder.glob(f"{owner.id}-*.csv"):
        with contextlib.suppress(OSError):
            kept.append((path.stat().st_mtime_ns, path))
    kept.sort()
    for _, path in kept[: max(len(kept) - PENDING_MAX_PER_OWNER + 1, 0)]:
        path.unlink(missing_ok=True)
