"""Cached counts for the home page, and their invalidation.

The counts are cached under a key that carries a generation number; any
write that changes them calls `counts_changed()`, which bumps the generation
so the next read recounts. Writers call it after their commit.
"""

from __future__ import annotations

from mailer.extensions import cache

GENERATION_KEY = "home:counts:generation"


def counts_generation() -> int:
    return cache.get(GENERATION_KEY) or 0


def counts_changed() -> None:
    """Mailings, active mailings or clients changed: recount on the next home page."""
    cache.set(GENERATION_KEY, counts_generation() + 1, timeout=0)
