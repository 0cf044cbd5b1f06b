"""A real HTTP receiver of webhooks on 127.0.0.1 (a random port), for the outbox's tests.

It records every request (headers, body) and answers what its `answer` says: a status to send,
and whether it took the message (a receiver that took it but whose answer was lost is how a
duplicate arises). `stop` closes the port (connections refused); `start` opens it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict
    body: str
    status: int
    taken: bool


@dataclass
class Receiver:
    """`answer(number)` -> (status, taken) for the number-th request (from 0)."""

    answer: Callable[[int], tuple[int, bool]] = lambda number: (200, True)
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def taken(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.taken]

    def wait_for(self, count: int, timeout: float) -> bool:
        """Whether `count` requests have arrived within `timeout` seconds."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.requests) >= count, timeout)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                # HTTP header names are case-insensitive: kept lower-case, as the spec writes them.
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver._lock:
                    status, taken = receiver.answer(len(receiver.requests))
                    receiver.requests.append(Received(headers, body, status, taken))
                    receiver._lock.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
