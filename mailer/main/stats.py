"""Cached counts for the home page, the blog's cache generation, and their invalidation.

Cached values live under keys that carry a generation number. A write that
changes what they show bumps the generation, so the next read recomputes and
the old entries simply expire (after CACHE_TTL). Writers call
`counts_changed(owner_id)` (mailings, clients: that owner's generation) or
`blog_changed()` (articles) after their commit.

The service-wide counts a visitor sees follow no generation: any user's write
would throw them away, and their count of distinct client addresses reads
every client (seconds at a million). They are recounted once CACHE_TTL has
passed, by one request at a time, the others answered the last count
meanwhile (`service_counts`).

The cache is a speed-up, never a dependency: if its backend (Redis) fails,
every helper here logs one warning, answers "not cached", and the caller
computes the value from the database. After CACHE_RETRY_SECONDS the cache
is tried again, so the site uses it once Redis is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import distinct, event, func, select
from sqlalchemy.orm import Session

from mailer.extensions import cache, db
from mailer.models import Article, Client, Mailing, User

log = logging.getLogger(__name__)

GENERATION_KEY = "home:counts:generation:{owner_id}"
SERVICE_COUNTS_KEY = "home:counts:service"
RECOUNT_KEY = "home:counts:service:recounting"
RECOUNT_SECONDS = 60  # a recount that has not ended by then is given up (its process died)
BLOG_GENERATION_KEY = "blog:generation"
# Mailing.status of a mailing that is sending now (the seed's "запущена").
ACTIVE_STATUS = "started"

T = TypeVar("T")


# --- the cache, failing soft -------------------------------------------------------------


def _cache_paused() -> bool:
    return time.monotonic() < current_app.extensions.get("mailer_cache_paused_until", 0.0)


def _cache_failed(error: Exception) -> None:
    """Skip the cache for a while: a dead Redis must not cost a timeout per read."""
    retry = current_app.config.get("CACHE_RETRY_SECONDS", 5)
    current_app.extensions["mailer_cache_paused_until"] = time.monotonic() + retry
    log.warning("cache unavailable, answering uncached for %ss: %s", retry, error)


def _safely(operation: Callable[[], T], fallback: T) -> T:
    if _cache_paused():
        return fallback
    try:
        return operation()
    except Exception as error:  # any backend failure (connection, timeout, protocol)
        _cache_failed(error)
        return fallback


def cache_get(key: str) -> Any:
    return _safely(lambda: cache.get(key), None)


def cache_set(key: str, value: Any, timeout: int | None = None) -> None:
    _safely(lambda: cache.set(key, value, timeout=timeout), None)


def cache_claim(key: str, seconds: int) -> bool:
    """Whether this request is the first to claim `key` (for `seconds` at most); True when
    the cache cannot say, so that the caller does the work rather than nobody."""
    return bool(_safely(lambda: cache.add(key, 1, timeout=seconds), True))


def remember(key: str, compute: Callable[[], T]) -> T:
    """The cached value under `key`, or `compute()` stored there for CACHE_TTL."""
    value = cache_get(key)
    if value is None:
        value = compute()
        cache_set(key, value)
    return value


def _generation(key: str) -> int:
    return cache_get(key) or 0


def _bump(key: str) -> None:
    # A fresh, never-reused value (not +1): two writers at once each leave a new
    # generation, and an expired or evicted key can never bring back old entries.
    cache_set(key, time.time_ns(), timeout=0)


# --- generations ---------------------------------------------------------------------------


def counts_generation(owner_id: int) -> int:
    return _generation(GENERATION_KEY.format(owner_id=owner_id))


def counts_changed(owner_id: int) -> None:
    """The owner's mailings, active mailings or clients changed: their home page recounts
    on its next load (the service's counts, within CACHE_TTL).

    Safe to call before or after the commit: the generation is bumped now and
    again when the session's transaction commits, so a request that recounted
    in between (seeing the old rows) cannot leave stale counts cached.
    """
    _bump_now_and_after_commit(GENERATION_KEY.format(owner_id=owner_id))


def blog_generation() -> int:
    return _generation(BLOG_GENERATION_KEY)


def blog_changed() -> None:
    """An article was saved, published, unpublished or deleted: rebuild blog pages."""
    _bump_now_and_after_commit(BLOG_GENERATION_KEY)


_PENDING = "mailer_generations_to_bump"


def _bump_now_and_after_commit(key: str) -> None:
    _bump(key)
    db.session.info.setdefault(_PENDING, set()).add(key)


@event.listens_for(Session, "after_commit")
def _bump_committed(session: Session) -> None:
    for key in session.info.pop(_PENDING, ()):
        _bump(key)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --- the home page counts ------------------------------------------------------------------


def home_counts(user: User | None) -> dict[str, int]:
    """Mailings, active mailings and unique clients: the user's own, or the service's."""
    if user is None:
        return service_counts()
    key = f"home:counts:{counts_generation(user.id)}:user:{user.id}"
    return remember(key, lambda: count_now(user.id))


def service_counts_changed() -> None:
    """Something rare and large changed the service's counts (a user deleted with all that
    was theirs): the next visitor's page recounts them. Call it after the commit."""
    _safely(lambda: cache.delete(SERVICE_COUNTS_KEY), None)


def service_counts() -> dict[str, int]:
    """The service's counts, at most CACHE_TTL old (and the time one recount takes): the
    first request after that recounts, the others are answered the last count meanwhile."""
    cached = cache_get(SERVICE_COUNTS_KEY)
    if cached is not None and (
        time.time() < cached["fresh_until"] or not cache_claim(RECOUNT_KEY, RECOUNT_SECONDS)
    ):
        return cached["counts"]
    counts = count_now(None)
    fresh_for = current_app.config.get("CACHE_DEFAULT_TIMEOUT", 0)  # none: the cache is off
    # Kept past its freshness (never expiring), to answer with while the next recount runs.
    cache_set(SERVICE_COUNTS_KEY, {"fresh_until": time.time() + fresh_for, "counts": counts}, 0)
    _safely(lambda: cache.delete(RECOUNT_KEY), None)
    return counts


def count_now(owner_id: int | None) -> dict[str, int]:
    """Count in one round trip (three scalar subqueries)."""
    mailings = select(func.count(Mailing.id))
    # Active: started, not disabled, and its owner not blocked (it sends nothing then).
    active = select(func.count(Mailing.id)).where(
        Mailing.status == ACTIVE_STATUS,
        Mailing.is_active.is_(True),
        Mailing.owner_id.not_in(select(User.id).where(User.is_blocked.is_(True))),
    )
    clients = select(func.count(distinct(Client.email)))
    if owner_id is not None:
        mailings = mailings.where(Mailing.owner_id == owner_id)
        active = active.where(Mailing.owner_id == owner_id)
        clients = clients.where(Client.owner_id == owner_id)
    row = db.session.execute(
        select(
            mailings.scalar_subquery().label("mailings"),
            active.scalar_subquery().label("active_mailings"),
            clients.scalar_subquery().label("clients"),
        )
    ).one()
    return {name: int(value or 0) for name, value in row._mapping.items()}


def cache_get_many(keys: list[str]) -> list[Any]:
    """Several cached values in one round trip (None for each one missing)."""
    return _safely(lambda: cache.get_many(*keys), [None] * len(keys))


def published_article_ids(generation: int) -> list[int]:
    """Ids of the published articles, cached per blog generation (the home page picks from them)."""
    key = f"blog:{generation}:published-ids"
    return remember(
        key,
        lambda: list(db.session.scalars(select(Article.id).where(Article.is_published.is_(True)))),
    )
