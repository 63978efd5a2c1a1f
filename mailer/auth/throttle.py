"""Throttles: counters per key that lock the key once they reach a limit, for a time
counted from the last event.

The login throttle counts failed logins per email and per IP (LOGIN_MAX_FAILURES,
LOGIN_LOCKOUT_SECONDS); the account mail throttle counts the emails sent to each
address (ACCOUNT_MAILS_PER_HOUR an hour), so nobody can flood an inbox, or use up
the SMTP account's quota, by asking for confirmation or reset links; the mail
request throttle counts those asks per IP (ACCOUNT_MAIL_REQUESTS_PER_IP an hour),
so nobody can spend the quota by asking for many addresses; the test email throttle
counts each user's test emails of their messages (TEST_EMAILS_PER_HOUR an hour).

With REDIS_URL the counters live in Redis, so every web process shares them;
otherwise in a lock-protected dict of this process (the embedded default).

`take` counts a try in one step with the check of the limit (a Lua script on
Redis), so that requests sent at once cannot all pass the check before any is
counted: account emails and the asks for them are counted so, and a password
check counts its try before the password is known; a right password then gives
the try back (`give_back`) or clears the counter (`reset`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import current_app
from redis import Redis

from mailer.redis_client import redis_connection


class MemoryThrottle:
    def __init__(self, max_failures: int, lockout_seconds: int, clock: Callable = time.monotonic):
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)

    def _current(self, key: str) -> tuple[int, float]:
        count, expires_at = self._failures.get(key, (0, 0.0))
        if expires_at <= self.clock():
            self._failures.pop(key, None)
            return 0, 0.0
        return count, expires_at

    def retry_after(self, keys: list[str]) -> int:
        """Seconds until the first of `keys` is allowed again; 0 when none is locked."""
        with self._lock:
            return self._wait(keys)

    def record(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                count, _ = self._current(key)
                self._failures[key] = (count + 1, self.clock() + self.lockout_seconds)

    def take(self, keys: list[str]) -> int:
        """Count a try against each of `keys`, unless one is locked: then the seconds to
        wait, and nothing is counted; else 0."""
        with self._lock:
            counts = [count for count, _ in map(self._current, keys)]
            if any(count >= self.max_failures for count in counts):
                return self._wait(keys)
            for key, count in zip(keys, counts, strict=True):
                self._failures[key] = (count + 1, self.clock() + self.lockout_seconds)
        return 0

    def _wait(self, keys: list[str]) -> int:
        waits = [
            expires_at - self.clock()
            for count, expires_at in map(self._current, keys)
            if count >= self.max_failures
        ]
        return max(1, round(max(waits))) if waits else 0

    def give_back(self, keys: list[str]) -> None:
        """Uncount the try `take` counted against `keys` (it was no failure)."""
        with self._lock:
            for key in keys:
                count, expires_at = self._current(key)
                if count > 1:
                    self._failures[key] = (count - 1, expires_at)
                else:
                    self._failures.pop(key, None)

    def reset(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


# RedisThrottle.take in one step: the longest wait of a locked key (nothing counted), or
# each key counted and its time restarted (0). ARGV: the limit, the lockout's seconds.
_TAKE = """
local wait = 0
for _, key in ipairs(KEYS) do
    if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[1]) then
        wait = math.max(wait, redis.call('TTL', key), 1)
    end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
    redis.call('INCR', key)
    redis.call('EXPIRE', key, ARGV[2])
end
return 0
"""
# RedisThrottle.give_back: one less, never below nothing.
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
    if tonumber(redis.call('GET', key) or '0') > 1 then redis.call('DECR', key)
    else redis.call('DEL', key) end
end
"""


class RedisThrottle:
    PREFIX = "mailer:login-failures:"

    def __init__(self, redis: Redis, max_failures: int, lockout_seconds: int, prefix: str = PREFIX):
        self.prefix = prefix
        self.redis = redis
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds

    def retry_after(self, keys: list[str]) -> int:
        pipe = self.redis.pipeline()
        for key in keys:
            pipe.get(self.prefix + key)
            pipe.ttl(self.prefix + key)
        replies = pipe.execute()
        waits = [
            ttl
            for count, ttl in zip(replies[::2], replies[1::2], strict=True)
            if count is not None and int(count) >= self.max_failures
        ]
        return max(1, max(waits)) if waits else 0

    def record(self, keys: list[str]) -> None:
        pipe = self.redis.pipeline()
        for key in keys:
            pipe.incr(self.prefix + key)
            pipe.expire(self.prefix + key, self.lockout_seconds)
        pipe.execute()

    def take(self, keys: list[str]) -> int:
        """As MemoryThrottle.take, in one step on the Redis server."""
        names = [self.prefix + key for key in keys]
        return int(
            self.redis.eval(_TAKE, len(names), *names, self.max_failures, self.lockout_seconds)
        )

    def give_back(self, keys: list[str]) -> None:
        names = [self.prefix + key for key in keys]
        self.redis.eval(_GIVE_BACK, len(names), *names)

    def reset(self, keys: list[str]) -> None:
        self.redis.delete(*(self.prefix + key for key in keys))


def login_throttle() -> MemoryThrottle | RedisThrottle:
    """The login throttle of this app, built on first use."""
    config = current_app.config
    return _throttle(
        "login-failures", config["LOGIN_MAX_FAILURES"], config["LOGIN_LOCKOUT_SECONDS"]
    )


def account_mail_throttle() -> MemoryThrottle | RedisThrottle:
    """The account mail throttle of this app (keys "to:<address>"), built on first use."""
    return _throttle("account-mails", current_app.config["ACCOUNT_MAILS_PER_HOUR"], 3600)


def mail_request_throttle() -> MemoryThrottle | RedisThrottle:
    """The throttle of asks for account mail (keys "ip:<address>"), built on first use."""
    limit = current_app.config["ACCOUNT_MAIL_REQUESTS_PER_IP"]
    return _throttle("mail-requests", limit, 3600)


def test_email_throttle() -> MemoryThrottle | RedisThrottle:
    """The throttle of test emails (keys "user:<id>": to their own address), built on
    first use."""
    return _throttle("test-emails", current_app.config["TEST_EMAILS_PER_HOUR"], 3600)


def _throttle(name: str, limit: int, seconds: int) -> MemoryThrottle | RedisThrottle:
    throttle = current_app.extensions.get(f"mailer_{name}_throttle")
    if throttle is None:
        redis = redis_connection()
        if redis is not None:
            throttle = RedisThrottle(redis, limit, seconds, prefix=f"mailer:{name}:")
        else:
            throttle = MemoryThrottle(limit, seconds)
        current_app.extensions[f"mailer_{name}_throttle"] = throttle
    return throttle


def minutes_to_wait(seconds: int) -> int:
    """A throttle's wait as a page says it: whole minutes, rounded up, at least one."""
    return max(1, (seconds + 59) // 60)


def throttle_keys(email: str, ip: str | None) -> list[str]:
    return [f"email:{email}", f"ip:{ip or 'unknown'}"]
