"""Counts failed sign-ins per user name and per IP address in Redis, and locks either out.

Each counter lives for LOGIN_LOCKOUT_SECONDS from its first failure; a successful sign-in clears
the user name's counter (not the IP's, so one good account cannot unlock guessing at others).
"""

from __future__ import annotations

import hashlib
from functools import cache

import redis
from django.conf import settings

PREFIX = "recondesk:login-failures"


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)


def _redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"{PREFIX}:{kind}:{digest}"


def _counters(username: str, ip: str) -> list[tuple[str, int]]:
    return [
        (_key("user", username), settings.LOGIN_FAILURES_PER_USER),
        (_key("ip", ip or "unknown"), settings.LOGIN_FAILURES_PER_IP),
    ]


def seconds_locked(username: str, ip: str) -> int:
    """Seconds until sign-in is allowed again for this user name or IP; 0 when allowed."""
    client = _redis()
    remaining = 0
    for key, limit in _counters(username, ip):
        if int(client.get(key) or 0) >= limit:
            remaining = max(remaining, client.ttl(key), 1)
    return remaining


def register_failure(username: str, ip: str) -> None:
    pipe = _redis().pipeline()
    for key, _limit in _counters(username, ip):
        # SET NX starts the window at the first failure; INCR keeps the expiry (Redis >= 6).
        pipe.set(key, 0, ex=settings.LOGIN_LOCKOUT_SECONDS, nx=True)
        pipe.incr(key)
    pipe.execute()


def clear_user(username: str) -> None:
    _redis().delete(_key("user", username))
