"""Acting as a worker with a heartbeat, for the claim sweep's tests."""

import time

import redis
from django.conf import settings

from config import health


def as_worker(monkeypatch, instance: str):
    """Code run from here on claims as the worker process `instance`."""
    monkeypatch.setenv(health.INSTANCE_ENV, instance)


def beat(instance: str, seconds_ago: float, hostname: str = "w@host") -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.hset(health.INSTANCE_HEARTBEAT_KEY, instance, f"{time.time() - seconds_ago:.3f}")
    client.hset(health.HEARTBEAT_KEY, hostname, f"{time.time() - seconds_ago:.3f}")
