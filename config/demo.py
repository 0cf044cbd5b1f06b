"""`make demo`: start the servers, migrate, create the demo users, and run web, worker and beat.

Ctrl-C (or SIGTERM) stops the web server, the worker and beat, then the embedded PostgreSQL and
Redis if this command started them. Data stays under .data/, so the next run continues from it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Stop(Exception):
    pass


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _children(host: str, port: int) -> list[subprocess.Popen]:
    python = sys.executable
    commands = [
        [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        [python, "-m", "celery", "-A", "config", "worker", "-l", "info",
         "--concurrency", "2", "-n", "demo-worker@%h"],
        [python, "-m", "celery", "-A", "config", "beat", "-l", "info", "--pidfile="],
    ]  # fmt: skip
    # Own sessions: a terminal's Ctrl-C reaches only this runner, which stops each child once.
    return [subprocess.Popen(command, cwd=ROOT, start_new_session=True) for command in commands]


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _wait_until_listening(host: str, port: int, children: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and all(child.poll() is None for child in children):
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)


def _banner(url: str, credentials: dict[str, str], credentials_file: Path) -> str:
    width = max(len(name) for name in credentials)
    lines = [
        "",
        "=" * 72,
        f"Recondesk is running at {url}  (Ctrl-C stops everything)",
        "Demo users (one per role):",
        *[f"  {name.ljust(width)}  password: {pw}" for name, pw in credentials.items()],
        f"(kept in {credentials_file})",
        f"API docs: {url}api/docs/   Health: {url}healthz",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


def _raise_stop(signum, frame):
    raise Stop


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("DEMO_PORT", "8000"))
    if not _port_free(host, port):
        print(f"Port {port} on {host} is in use; stop what uses it or set DEMO_PORT.")
        return 2

    import django
    from django.core.management import call_command

    django.setup()  # starts the embedded servers if DATABASE_URL / REDIS_URL are unset
    from accounts.demo import ensure_demo_users
    from config.embedded import data_dir

    call_command("migrate", interactive=False, verbosity=1)
    credentials_file = data_dir() / "demo-credentials.json"
    credentials = ensure_demo_users(credentials_file)
    from reconciliation.demo import data as demo_data

    datasets = demo_data.load()
    print("Demo datasets: " + ", ".join(f"{name} #{pk}" for name, pk in datasets.items()))

    # Started in the background, a process inherits "ignore Ctrl-C": take the signals back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_stop)
    children = _children(host, port)
    try:
        _wait_until_listening(host, port, children)
        print(_banner(f"http://{host}:{port}/", credentials, credentials_file), flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("A demo process stopped; stopping the others.", flush=True)
        return 1
    except (KeyboardInterrupt, Stop):
        print("\nStopping Recondesk…", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        _stop(children)


if __name__ == "__main__":
    sys.exit(main())
