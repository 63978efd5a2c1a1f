"""Finding text as people type it: any case, in any script, % and _ as themselves."""

from __future__ import annotations

from sqlalchemy import func


def contains_as_typed(column, search: str):
    """`column` contains `search`, whatever the case of either. On SQLite, lower() is
    Python's (extensions.py), so "анна" finds "Анна" there as on PostgreSQL; autoescape
    makes % and _ plain characters, not wildcards."""
    return func.lower(column).contains(search.lower(), autoescape=True)
