"""A local stand-in for Kraken's REST API that serves the recorded responses, for real clients.

Usage::

    with KrakenServer(secret=SECRET) as server:      # 127.0.0.1, a free port, its own thread
        client = kraken_client(api_key=KEY, secret=SECRET, base_url=server.url)
        server.fail_next("/0/private/Ledgers", {"error": ["EAPI:Rate limit exceeded"]}, times=1)
        ...
        server.requests                               # every request, in order (RecordedRequest)
        server.requests_to("/0/private/Ledgers")      # those to one path
        server.set_response("/0/private/BalanceEx", {"error": [], "result": {...}})

Routes (the files are in tests/data/exchange/kraken_api/):

* `GET /0/public/Assets`, `GET /0/public/AssetPairs`: Assets.json, AssetPairs.json.
* `POST /0/private/BalanceEx`, `POST /0/private/Balance`: BalanceEx.json, Balance.json.
* `POST /0/private/TradeBalance`, `POST /0/private/OpenPositions`: TradeBalance.json,
  OpenPositions.json (margin figures and open positions, whatever the form asks for).
* `POST /0/private/Ledgers`: the page chosen by the form field `ofs` (0 → Ledgers_page1.json,
  50 → Ledgers_page2.json; any other offset → no entries, same `count`).
* `POST /0/private/TradesHistory`: TradesHistory.json at `ofs` 0, no trades beyond.

Every answer is HTTP 200 with a JSON body, errors included (as Kraken does: ccxt reads `error`
whatever the status). A path or method not served gets `{"error":["EGeneral:Unknown method"]}`
with HTTP 404. When built with the client's `secret`, the server checks each private request's
`API-Sign` (HMAC-SHA512 of path + SHA256(nonce + body), keyed with the base64-decoded secret)
and answers `EAPI:Invalid signature` when it does not match; `RecordedRequest.signature_ok`
says what it found.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "exchange" / "kraken_api"

PUBLIC_FILES = {
    "/0/public/Assets": "Assets.json",
    "/0/public/AssetPairs": "AssetPairs.json",
}
PRIVATE_FILES = {
    "/0/private/BalanceEx": "BalanceEx.json",
    "/0/private/Balance": "Balance.json",
    "/0/private/TradeBalance": "TradeBalance.json",
    "/0/private/OpenPositions": "OpenPositions.json",
}
# Paged private endpoints: path -> (key of the entries in `result`, {ofs: file}).
PAGED_FILES = {
    "/0/private/Ledgers": ("ledger", {0: "Ledgers_page1.json", 50: "Ledgers_page2.json"}),
    "/0/private/TradesHistory": ("trades", {0: "TradesHistory.json"}),
}

RATE_LIMIT = {"error": ["EAPI:Rate limit exceeded"]}
INVALID_NONCE = {"error": ["EAPI:Invalid nonce"]}
INVALID_KEY = {"error": ["EAPI:Invalid key"], "result": {}}
PERMISSION_DENIED = {"error": ["EGeneral:Permission denied"]}
SERVICE_UNAVAILABLE = {"error": ["EService:Unavailable"]}


def load(name: str) -> dict:
    """A recorded response file, parsed."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


@dataclass
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]  # the parsed POST body (or query string for GET)
    headers: dict[str, str]
    body: str
    signature_ok: bool | None = None  # None: not a private call, or no secret to check with

    @property
    def ofs(self) -> int | None:
        return int(self.form["ofs"]) if "ofs" in self.form else None


@dataclass
class _State:
    responses: dict[str, dict] = field(default_factory=dict)
    failures: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class KrakenServer:
    """The recorded Kraken API on 127.0.0.1 (port chosen by the OS), served from a thread."""

    def __init__(self, *, secret: str | None = None, data_dir: Path = DATA_DIR):
        self.secret = secret
        self.data_dir = data_dir
        self._state = _State()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> KrakenServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kraken-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> KrakenServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the client, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- what tests control and inspect ------------------------------------------------------

    def fail_next(self, path: str, body: dict | str, times: int = 1) -> None:
        """Answer the next `times` calls to `path` with `body` (HTTP 200), then serve normally."""
        with self._state.lock:
            self._state.failures[path].extend([body] * times)

    def set_response(self, path: str, body: dict) -> None:
        """Serve `body` for `path` from now on (every offset), instead of the recorded file."""
        with self._state.lock:
            self._state.responses[path] = body

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    # --- answering ---------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._state.lock:
            self._state.requests.append(request)

    def _next_failure(self, path: str):
        with self._state.lock:
            queue = self._state.failures.get(path)
            return queue.popleft() if queue else None

    def _answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, object]:
        failure = self._next_failure(path)
        if failure is not None:
            return 200, failure
        with self._state.lock:
            override = self._state.responses.get(path)
        if override is not None:
            return 200, override
        if method == "GET" and path in PUBLIC_FILES:
            return 200, self._load(PUBLIC_FILES[path])
        if method == "POST" and path in PRIVATE_FILES:
            return 200, self._load(PRIVATE_FILES[path])
        if method == "POST" and path in PAGED_FILES:
            return 200, self._page(path, int(form.get("ofs", "0") or 0))
        return 404, {"error": ["EGeneral:Unknown method"]}

    def _page(self, path: str, ofs: int) -> dict:
        key, pages = PAGED_FILES[path]
        if ofs in pages:
            return self._load(pages[ofs])
        first = self._load(pages[0])
        return {"error": [], "result": {key: {}, "count": first["result"]["count"]}}

    def _load(self, name: str) -> dict:
        return copy.deepcopy(json.loads((self.data_dir / name).read_text(encoding="utf-8")))

    def _signature_ok(self, path: str, form: dict[str, str], body: str, sign: str) -> bool | None:
        if self.secret is None:
            return None
        message = path.encode() + hashlib.sha256((form.get("nonce", "") + body).encode()).digest()
        expected = hmac.new(base64.b64decode(self.secret), message, hashlib.sha512).digest()
        return hmac.compare_digest(base64.b64encode(expected).decode(), sign or "")


class _Handler(BaseHTTPRequestHandler):
    owner: KrakenServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls

    def log_message(self, format, *args):
        pass  # quiet: tests read `owner.requests` instead

    def do_GET(self):
        parts = urlsplit(self.path)
        self._handle("GET", parts.path, dict(parse_qsl(parts.query)), "")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        form = dict(parse_qsl(body, keep_blank_values=True))
        self._handle("POST", urlsplit(self.path).path, form, body)

    def _handle(self, method: str, path: str, form: dict[str, str], body: str) -> None:
        owner = self.owner
        signature_ok = None
        if path.startswith("/0/private/"):
            signature_ok = owner._signature_ok(path, form, body, self.headers.get("API-Sign"))
        owner._record(
            RecordedRequest(method, path, form, dict(self.headers.items()), body, signature_ok)
        )
        if signature_ok is False:
            status, payload = 200, {"error": ["EAPI:Invalid signature"]}
        else:
            status, payload = owner._answer(method, path, form)
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
