"""Password rules: hashing with werkzeug's default (scrypt), length, common passwords."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 10
MAX_LENGTH = 200  # scrypt takes any length; a form field of megabytes is no password
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt")

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "check_password_hash", "generate_password_hash", "is_common"]


@cache
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def is_common(password: str) -> bool:
    """True for a password from the list, whatever its case."""
    return password.strip().lower() in _common_passwords()
