"""Starts a real Celery worker process against the test database and a private queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil
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


@dataclass
class Worker:
    """A worker process started by `worker_process`: its queue, name, process and log."""

    queue: str
    hostname: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        """The worker's main process (the prefork pool's parent)."""
        return self.process.pid

    def pool_pids(self) -> list[int]:
        """The pool processes that execute tasks (children of the main process)."""
        return sorted(child.pid for child in _children(self.pid, recursive=False))

    def kill(self) -> None:
        """SIGKILL the main process and its pool processes at once, as a crash or OOM kill would.

        The worker runs in its own process group, so one signal reaches all of them: none can
        acknowledge, requeue or finish anything after it.
        """
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def worker_process(
    *,
    concurrency: int = 1,
    extra_env: dict | None = None,
    queue: str | None = None,
    name: str | None = None,
):
    """Yield a `Worker` consuming `queue` (a new private one by default) once it is up.

    `name` tells apart several workers of one queue (their hostnames and logs); a worker
    killed meanwhile (`Worker.kill`) is simply reaped on exit.
    """
    queue = queue or f"test-{uuid.uuid4().hex[:12]}"
    hostname = f"{name or queue}@localhost"
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": queue,
        "WORKER_HEARTBEAT_INTERVAL": "1",
        "CORRECTIONS_PROPOSE_AFTER_RUNS": "false",  # as in-process (conftest), unless asked
        "NOTIFICATIONS_ENABLED": "false",  # likewise
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info",
        "--concurrency", str(concurrency), "-n", hostname, "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    log_path = Path(settings.AUDIT_HEAD_EXPORT_PATH).parent / f"{name or queue}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for Worker.kill
        )  # fmt: skip
    worker = Worker(queue=queue, hostname=hostname, process=process, log_path=log_path)
    try:
        _wait_for_heartbeat(hostname, process, log_path)
        yield worker
    finally:
        pool = _children(process.pid) if process.poll() is None else []
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for child in pool:  # left behind if the main process died first
            with suppress(psutil.NoSuchProcess):
                child.kill()  # psutil checks it is still that process, not a reused pid


@contextmanager
def running_worker(*, concurrency: int = 1, extra_env: dict | None = None):
    """Yield (queue name, worker hostname) while a worker consumes that queue."""
    with worker_process(concurrency=concurrency, extra_env=extra_env) as worker:
        yield worker.queue, worker.hostname


def _children(pid: int, *, recursive: bool = True) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=recursive)
    except psutil.NoSuchProcess:
        return []


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


def statement_running(like: str) -> str | None:
    """The SQL another connection to the test database is running now, matching `like`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE %s",
            [like],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@contextmanager
def sending_to(queue: str):
    """Tasks sent meanwhile (a run's, on commit) go to `queue`."""
    from config.celery import app

    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield queue
    finally:
        app.conf.task_default_queue = previous


def wait_until_ended(item, worker: Worker, timeout: float = 60):
    """Poll a run or an import job until it is no longer active; fail with the worker's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item.refresh_from_db()
        if not item.is_active:
            return item
        time.sleep(0.1)
    raise AssertionError(
        f"{type(item).__name__} {item.pk} still {item.status} in phase {item.phase!r} after "
        f"{timeout} s ({item.deliveries} deliveries)\n{worker.log()[-6000:]}"
    )
