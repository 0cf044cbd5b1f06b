"""Starts real gunicorn (config/gunicorn.py) against the test database, for tests over HTTP."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings
from django.test import Client

from tests.worker import ROOT, test_database_url


@dataclass
class WebServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn_process(*, timeout: int, extra_env: dict | None = None, args: list | None = None):
    """Yield a `WebServer` running config/gunicorn.py with `--timeout` lowered to `timeout`."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "UPLOAD_STAGING_DIR": str(settings.UPLOAD_STAGING_DIR),
        "SESSION_COOKIE_SECURE": "false",  # plain HTTP on the loopback
        "CSRF_COOKIE_SECURE": "false",
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", str(timeout),
        *(args or []),
    ]  # fmt: skip
    log_path = Path(settings.AUDIT_HEAD_EXPORT_PATH).parent / f"gunicorn-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = WebServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        _wait_until_answering(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(server: WebServer) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            requests.get(server.url + "/accounts/login/", timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not start:\n{server.log()[-4000:]}")


def signed_in(server: WebServer, user) -> requests.Session:
    """A browser-like session of `user` against the server (its session is in the database)."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(
        settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value
    )
    return session


def hidden_fields(html: str) -> dict[str, str]:
    """A page's hidden form fields (CSRF token, form token, staging token), by name."""
    fields = {}
    for tag in re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields
