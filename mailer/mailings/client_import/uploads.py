"""The uploaded file between the preview and the confirmation: kept in
CLIENT_IMPORT_DIR under the owner's id and a random token, removed after a
day if never confirmed.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path

from flask import current_app

from mailer.models import User

PENDING_MAX_AGE_SECONDS = 24 * 3600


def _imports_dir() -> Path:
    return Path(current_app.config["CLIENT_IMPORT_DIR"])


def _pending_path(owner: User, token: str) -> Path | None:
    # The owner's id is part of the name: a token never opens someone else's file.
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        return None
    return _imports_dir() / f"{owner.id}-{token}.csv"


def keep_upload(*, owner: User, data: bytes) -> str:
    """Store an uploaded file until it is confirmed; returns its token."""
    folder = _imports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _forget_old(folder)
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
