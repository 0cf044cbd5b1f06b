"""Health of what Recondesk needs: the database, the broker, and at least one live worker; and
what apps report beside them (`register`: the outbox's backlog, from corrections/metrics.py)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import connections

HEARTBEAT_KEY = "recondesk:worker-heartbeats"
# Heartbeats by worker process (instance), not by name: a worker restarted under the same name
# (a container restarted in place keeps its hostname) must not vouch for the claims of the
# process that died. Field: instance id; value: the time of its last heartbeat.
INSTANCE_HEARTBEAT_KEY = "recondesk:worker-instance-heartbeats"
INSTANCE_ENV = "RECONDESK_WORKER_INSTANCE"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    figures: dict = field(default_factory=dict)  # numbers for monitors (the outbox's backlog)

    def as_dict(self) -> dict:
        return {"status": "up" if self.ok else "down", "detail": self.detail, **self.figures}


_reported: list[Callable[[], Check]] = []


def register(check: Callable[[], Check]) -> None:
    """Add an app's check to /healthz (from its AppConfig.ready; config knows no app)."""
    if check not in _reported:
        _reported.append(check)


def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def start_worker_instance() -> str:
    """Give this worker process a new instance id, inherited by the pool processes it starts.

    Called once in the worker's main process before its pool starts (an environment variable,
    so pool processes see it whether they are forked or spawned).
    """
    os.environ[INSTANCE_ENV] = uuid.uuid4().hex
    return os.environ[INSTANCE_ENV]


def worker_instance() -> str:
    """The id of the worker process this code runs in ("" outside a worker)."""
    return os.environ.get(INSTANCE_ENV, "")


def record_worker_heartbeat(hostname: str, instance: str = "") -> None:
    """Store `hostname`'s heartbeat, and its instance's (called by each worker on a timer)."""
    now = f"{time.time():.3f}"
    with _redis(settings.REDIS_URL).pipeline() as pipe:
        pipe.hset(HEARTBEAT_KEY, hostname, now)
        if instance:
            pipe.hset(INSTANCE_HEARTBEAT_KEY, instance, now)
        pipe.execute()


def instance_heartbeats() -> dict[str, float]:
    """Every worker instance's last heartbeat (epoch seconds), by instance id."""
    beats = _redis(settings.REDIS_URL).hgetall(INSTANCE_HEARTBEAT_KEY)
    return {key.decode(): float(value) for key, value in beats.items()}


def forget_instances(instances: list[str]) -> None:
    """Drop the heartbeats of instances long dead (so the hash does not grow forever)."""
    if instances:
        _redis(settings.REDIS_URL).hdel(INSTANCE_HEARTBEAT_KEY, *instances)


def check_database(alias: str = "default") -> Check:
    # A fresh connection, so the answer is about the server now, not a pooled socket.
    connection = connections.create_connection(alias)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Check("database", True, connection.settings_dict.get("NAME") or "")
    except Exception as exc:  # any failure to reach the server means "down"
        return Check("database", False, type(exc).__name__ + ": " + str(exc).splitlines()[0])
    finally:
        connection.close()


def check_broker(url: str) -> Check:
    try:
        _redis(url).ping()
        return Check("broker", True, "redis")
    except redis.RedisError as exc:
        return Check("broker", False, type(exc).__name__ + ": " + str(exc))


def check_worker(url: str, max_age: int, hostname: str | None = None) -> Check:
    """Up if a worker (or the named one) sent a heartbeat in the last `max_age` seconds."""
    try:
        beats = _redis(url).hgetall(HEARTBEAT_KEY)
    except redis.RedisError as exc:
        return Check("worker", False, "heartbeats unreadable: " + type(exc).__name__)
    if hostname is not None:
        beats = {key: value for key, value in beats.items() if key.decode() == hostname}
    if not beats and hostname is not None:
        return Check("worker", False, f"{hostname} has reported no heartbeat")
    if not beats:
        return Check("worker", False, "no worker has reported a heartbeat")
    newest_host, newest = max(
        ((host.decode(), float(ts)) for host, ts in beats.items()), key=lambda item: item[1]
    )
    age = time.time() - newest
    detail = f"last heartbeat {age:.0f}s ago from {newest_host}"
    return Check("worker", age <= max_age, detail)


def public_body(body: dict) -> dict:
    """What anyone may learn from /healthz: up or down, nothing more.

    The full body names the database, the workers' host names and the errors met: a map of the
    installation for whoever asks. Monitors need only the status (and the HTTP status code).
    """
    return {"status": body["status"]}


def collect_health() -> tuple[bool, dict]:
    """Run every check; return whether all are up and the JSON body of /healthz."""
    checks = [
        check_database(getattr(settings, "HEALTH_DATABASE_ALIAS", "default")),
        check_broker(settings.CELERY_BROKER_URL),
        check_worker(settings.REDIS_URL, settings.WORKER_HEARTBEAT_MAX_AGE),
        *(check() for check in _reported),
    ]
    healthy = all(check.ok for check in checks)
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {check.name: check.as_dict() for check in checks},
    }
    return healthy, body
