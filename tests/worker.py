"""Starts a real Celery worker process against the test database and a private queue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings
from django.db import connection

from config.health import HEARTBEAT_KEY

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    params = connection.settings_dict
    host = quote(str(params.get("HOST") or "127.0.0.1"), safe="")
    password = quote(str(params.get("PASSWORD") or ""), safe="")
    credentials = f"{params['USER']}:{password}" if password else params["USER"]
    return f"postgres://{credentials}@{host}:{params.get('PORT') or 5432}/{params['NAME']}"


@contextmanager
def running_worker(*, concurrency: int = 1, extra_env: dict | None = None):
    """Yield (queue name, worker hostname) while a worker consumes that queue."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    hostname = f"{queue}@localhost"
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": queue,
        "WORKER_HEARTBEAT_INTERVAL": "1",
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info",
        "--concurrency", str(concurrency), "-n", hostname, "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    log_path = Path(settings.AUDIT_HEAD_EXPORT_PATH).parent / f"{queue}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_heartbeat(hostname, process, log_path)
        yield queue, hostname
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_heartbeat(hostname: str, process: subprocess.Popen, log_path: Path) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if client.hget(HEARTBEAT_KEY, hostname):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"worker {hostname} did not start:\n{log_path.read_text()[-4000:]}")
