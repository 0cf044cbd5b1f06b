"""Fetch a Kraken account (balances, ledger, trades) through ccxt, as canonical tables.

Pure functions, no Django: the caller builds the client from stored credentials, passes the
asset aliases (`assets.aliases_for("kraken", ...)`) and fills `account` in the tables.

Exactness: ccxt's unified methods (`fetch_balance`, `fetch_ledger`, ...) turn amounts into
floats, so this module calls ccxt's raw endpoints (`private_post_balanceex`, ...) and keeps the
amount strings Kraken sends. ccxt still does what it is good at: signing, the public calls that
describe the markets (`load_markets`: Assets, AssetPairs) and turning error bodies into
exceptions. Unix times (JSON floats with four decimals) become microseconds through Decimal.

Paging: Ledgers and TradesHistory answer 50 entries per call, most recent first, with `count`
the total; we ask again with `ofs` = entries received so far until `ofs >= count`. An entry
that arrives while we page pushes older ones one place down, so a page may repeat the last
entry of the previous one: entries are kept once per id. Rows come out oldest first.

Errors: every failure becomes an `ExchangeFetchError` whose message says what happened and what
to do, and never contains the API key or secret. Rate limits and `EService:Unavailable/Busy`
are retried after each of `retry_delays` (through the injected `sleep`) before giving up.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING
from urllib.parse import urlsplit

import ccxt

from .base import Parsed
from .kraken_margin import margin_table
from .kraken_rows import (
    PairResolver,
    balances_table,
    int_or,
    ledger_table,
    trades_table,
    unix_seconds,
)

PAGE_LIMIT_GUARD = 100_000  # pages; a runaway loop stops with an error long before this

DEFAULT_BASE_URL = "https://api.kraken.com"

PERMISSIONS = '"Query Funds", "Query Ledger Entries" and "Query Closed Orders & Trades"'
HISTORY_KINDS = ("balances", "ledger", "trades")  # what a fetch brings unless told otherwise
KINDS = (*HISTORY_KINDS, "margin")
# Kraken states margin figures in one asset; ZUSD is its default (TradeBalance `asset`).
MARGIN_ASSET = "ZUSD"
MARGIN_CALLS = ("margin figures (trade balance)", "open margin positions")
MARGIN_PERMISSIONS = '"Query Open Orders & Trades"'


class ExchangeFetchError(Exception):
    """Fetching from the exchange failed; `message` says why and what to do (no secrets)."""

    def __init__(self, message: str, *, kind: str = "error", retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.kind = kind  # rate_limit, unavailable, invalid_nonce, auth, permission, network, ...
        self.retryable = retryable  # worth trying again later without changing anything

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # survives pickling (task results) with its kind
        return (type(self), (self.message,), {"kind": self.kind, "retryable": self.retryable})


# --- The client ---------------------------------------------------------------------------------


def kraken_client(*, api_key: str, secret: str, base_url: str | None = None) -> ccxt.kraken:
    """A ccxt Kraken client; with `base_url`, every API URL (public and private) points there.

    ccxt's own rate limiter is off: it sleeps with `time.sleep` before each call (6 s for a
    Ledgers page at its defaults), which we can neither shorten in tests nor interrupt.
    `fetch_kraken` retries rate-limit answers itself, with delays and a sleep it is given.
    ccxt's debug log (which prints request headers, the API key among them) is not emitted.
    """
    logger = logging.getLogger("recondesk.ccxt.kraken")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    client = ccxt.kraken(
        {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": False,
            "timeout": 30_000,
            "logger": logger,
            "options": {"adjustForTimeDifference": False},
        }
    )
    # Kraken rejects a nonce that is not above the key's last one. ccxt's is the time in ms,
    # which two quick calls can share (some ccxt versions do not add one): keep it increasing.
    client.nonce = _IncreasingNonce()
    if base_url is not None:
        base = base_url.rstrip("/")
        client.urls["api"] = {name: base for name in client.urls["api"]}
    return client


class _IncreasingNonce:
    """Milliseconds since the epoch, but always at least one more than the last one given."""

    def __init__(self):
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1_000_000, self._last + 1)
            return self._last


# --- Fetching -----------------------------------------------------------------------------------


def fetch_kraken(
    client: ccxt.kraken,
    *,
    since: datetime | None,
    aliases: dict[str, str],
    kinds: Collection[str] = HISTORY_KINDS,
    retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Parsed]:
    """The `kinds` of the client's account (balances, ledger, trades, margin) as canonical tables.

    `since` (timezone-aware) keeps ledger entries and trades at or after that instant; Kraken's
    `start` is exclusive and in whole seconds, so we ask from the second before and drop the
    few earlier rows. `aliases` maps Kraken codes to assets (XXBT -> BTC); suffixes such as
    `.S`, `.M`, `.F` are kept (DOT.S stays apart from DOT). Margin is a snapshot, as balances:
    `since` does not apply to it. The tables have no `account`.
    """
    if since is not None and (since.tzinfo is None or since.utcoffset() is None):
        raise ValueError("since must be a timezone-aware datetime")
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise ValueError(f"kinds must be some of {', '.join(KINDS)}, not {unknown or 'none'}")
    caller = _Caller(client, tuple(retry_delays), sleep)

    caller.call("public", "the asset and pair list", client.load_markets)
    fetched: dict[str, Parsed] = {}
    if "balances" in kinds:
        balances_result = caller.call("private", "balances", client.private_post_balanceex)
        fetched["balances"] = balances_table(balances_result, aliases, datetime.now(UTC))

    params: dict[str, str] = {}
    start = None
    if since is not None:
        start = _start_param(since)
        params["start"] = str(start)
    if "ledger" in kinds:
        entries, notes = _paged(
            caller, client.private_post_ledgers, "ledger", "ledger entries", params
        )
        fetched["ledger"] = ledger_table(entries, aliases, since)
        fetched["ledger"].notes.update(notes, start=start)
    if "trades" in kinds:
        entries, notes = _paged(
            caller,
            client.private_post_tradeshistory,
            "trades",
            "trades",
            {**params, "trades": "true", "ledgers": "true"},
        )
        fetched["trades"] = trades_table(entries, aliases, since, PairResolver(client, aliases))
        fetched["trades"].notes.update(notes, start=start)
    if "margin" in kinds:
        fetched["margin"] = _margin(caller, client, aliases)
    return fetched


def _margin(caller: _Caller, client, aliases: dict[str, str]) -> Parsed:
    """TradeBalance (collateral, margin used) and OpenPositions, as one margin snapshot."""
    balance = caller.call(
        "private", MARGIN_CALLS[0], client.private_post_tradebalance, {"asset": MARGIN_ASSET}
    )
    positions = caller.call(
        "private", MARGIN_CALLS[1], client.private_post_openpositions, {"docalcs": "true"}
    )
    return margin_table(
        balance, positions, aliases=aliases, as_of=datetime.now(UTC),
        pairs=PairResolver(client, aliases), balance_asset=MARGIN_ASSET,
    )  # fmt: skip


def _start_param(since: datetime) -> int:
    """Kraken's exclusive whole-second `start` that still includes `since` itself."""
    seconds = unix_seconds(since)
    return int(seconds.to_integral_value(rounding=ROUND_CEILING)) - 1


def _paged(caller: _Caller, endpoint, key: str, what: str, params: dict) -> tuple[list, dict]:
    """All entries of a paged endpoint, in the API's order (newest first), once per id."""
    entries: dict[str, dict] = {}
    received = 0
    pages = 0
    count = 0
    while True:
        result = caller.call("private", what, endpoint, {**params, "ofs": received})
        page = result.get(key)
        if page is None:
            page = {}
        if not isinstance(page, dict):
            raise ExchangeFetchError(
                f"Kraken answered the {what} request without a list of {what}: this looks "
                "like a change in Kraken's API. Nothing was imported; please report it.",
                kind="unexpected",
            )
        count = int_or(result.get("count"), default=0)
        pages += 1
        received += len(page)
        for entry_id, entry in page.items():
            entries.setdefault(str(entry_id), entry)
        if received >= count:
            break
        if not page:
            raise ExchangeFetchError(
                f"Kraken reported {count} {what} but stopped answering after {received}: "
                "nothing was imported. Fetch again; if it happens again, Kraken may be "
                "having problems (see status.kraken.com).",
                kind="incomplete",
                retryable=True,
            )
        if pages >= PAGE_LIMIT_GUARD:
            raise ExchangeFetchError(f"Too many pages of {what} from Kraken.", kind="incomplete")
    notes = {
        f"{key}_count": count,
        f"{key}_pages": pages,
        f"{key}_repeated_entries_dropped": received - len(entries),
    }
    return list(entries.items()), notes


# --- Calls, retries and error messages ----------------------------------------------------------


class _Caller:
    """Runs one ccxt call with retries; turns every failure into an ExchangeFetchError."""

    def __init__(self, client, retry_delays: tuple[float, ...], sleep):
        self.client = client
        self.retry_delays = retry_delays
        self.sleep = sleep

    def call(self, api: str, what: str, method, params: dict | None = None):
        attempt = 0
        while True:
            try:
                response = method() if params is None else method(params)
            except (ccxt.BaseError, binascii.Error) as exc:
                error = self._explain(exc, api, what, attempt)
                if error.kind in ("rate_limit", "unavailable") and attempt < len(self.retry_delays):
                    self.sleep(self.retry_delays[attempt])
                    attempt += 1
                    continue
                raise error from _safe_cause(exc, self._secrets())
            self._all_characters(response, what)
            if api == "public":
                return response
            return self._result(response, what)

    def _all_characters(self, response, what: str) -> None:
        """Refuse an answer holding an escape such as "\\ud800" (half a character pair): no
        text column can store it, and pyarrow would fail on it with a traceback."""
        try:
            json.dumps(response, ensure_ascii=False, default=str).encode()
        except UnicodeEncodeError as exc:
            raise ExchangeFetchError(
                f"Kraken's answer to the {what} request holds an escape such as \\ud800 that is "
                "half of a character pair (a lone surrogate), not a character: nothing was "
                "imported.",
                kind="unexpected",
            ) from exc

    def _result(self, response, what: str) -> dict:
        result = response.get("result") if isinstance(response, dict) else None
        if not isinstance(result, dict):
            raise ExchangeFetchError(
                f"Kraken's answer to the {what} request had no result (host "
                f"{self._host('private')}): nothing was imported. Check that the URL is "
                "Kraken's API and fetch again.",
                kind="unexpected",
                retryable=True,
            )
        return result

    def _secrets(self) -> list[str]:
        return [s for s in (self.client.apiKey, self.client.secret) if s]

    def _host(self, api: str) -> str:
        url = self.client.urls.get("api", {}).get(api) or DEFAULT_BASE_URL
        return urlsplit(url).netloc or url

    def _explain(self, exc: Exception, api: str, what: str, attempt: int) -> ExchangeFetchError:
        codes = _kraken_codes(exc)
        permissions = MARGIN_PERMISSIONS if what in MARGIN_CALLS else PERMISSIONS
        code_text = ", ".join(codes)
        said = f" (Kraken said {code_text})" if codes else ""
        host = self._host(api)
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        text = " ".join([code_text, str(exc) if isinstance(exc, ccxt.BaseError) else ""])

        if isinstance(exc, binascii.Error):
            message = (
                "The Kraken API secret (private key) is not valid base64: copy it again, in "
                "full, from Kraken's API key page."
            )
            kind, retryable = "auth", False
        elif isinstance(exc, ccxt.InvalidNonce) or "Invalid nonce" in text:
            message = (
                f"Kraken rejected the request for {what} with EAPI:Invalid nonce: the request's "
                "nonce was not higher than the last one Kraken saw for this API key. Another "
                "program (or another Recondesk job) is using the same API key at the same time, "
                "or the key's nonce window is too small. Give Recondesk its own Kraken API key, "
                "or raise the key's nonce window in Kraken's API settings, then fetch again."
            )
            kind, retryable = "invalid_nonce", False
        elif "Temporary lockout" in text:
            message = (
                f"Kraken has temporarily locked this API key out{said} after too many requests "
                "or failed calls. Wait several minutes before fetching again, and make sure no "
                "other program is using the same key."
            )
            kind, retryable = "lockout", False
        elif isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            message = (
                f"Kraken's rate limit was exceeded while fetching {what}{said}, and it still was "
                f"after {tries}. Wait a minute and fetch again; if it keeps happening, another "
                "program may be using the same API key: give Recondesk its own key."
            )
            kind, retryable = "rate_limit", True
        elif isinstance(exc, ccxt.ExchangeNotAvailable):
            message = (
                f"Kraken is unavailable or busy{said} ({host}), still after {tries} while "
                f"fetching {what}. Try again later; status.kraken.com shows outages and "
                "maintenance."
            )
            kind, retryable = "unavailable", True
        elif isinstance(exc, ccxt.PermissionDenied) or "Permission denied" in text:
            message = (
                f"Kraken refused to give the {what}{said}: the API key lacks a permission. "
                f"Give the key the {permissions} permissions in Kraken's API settings (they "
                "are read-only), or create a new key with them."
            )
            kind, retryable = "permission", False
        elif isinstance(exc, ccxt.AccountSuspended):
            message = (
                f"Kraken says the account is locked{said}. Contact Kraken support; nothing can "
                "be fetched until the account is unlocked."
            )
            kind, retryable = "auth", False
        elif (
            isinstance(exc, ccxt.AuthenticationError)
            or "Invalid key" in text
            or "Invalid signature" in text
        ):
            if codes:
                message = (
                    f"Kraken did not accept the API key{said}: the key or its secret (private "
                    "key) is wrong, or the key was deleted. Copy both again, in full, from "
                    "Kraken's API key page, and check that the key has the "
                    f"{permissions} permissions."
                )
            else:
                message = (
                    "No Kraken API key or secret is configured for this account: add a key "
                    f"with the {permissions} permissions."
                )
            kind, retryable = "auth", False
        elif isinstance(exc, ccxt.RequestTimeout):
            message = (
                f"Kraken ({host}) did not answer in time while fetching {what}. Check the "
                "network connection and try again."
            )
            kind, retryable = "network", True
        elif isinstance(exc, ccxt.NetworkError):
            message = (
                f"Could not reach Kraken at {host} while fetching {what}{said}. Check the "
                "network connection (and any proxy or firewall) and try again."
            )
            kind, retryable = "network", True
        else:
            message = (
                f"Kraken refused the request for {what}{said or ' (no reason given)'}. Nothing "
                "was imported."
            )
            kind, retryable = "refused", False
        return ExchangeFetchError(_scrub(message, self._secrets()), kind=kind, retryable=retryable)


_CODE = re.compile(r"\b[EW][A-Z][A-Za-z]*:[A-Za-z][^\"\]\[,]*")


def _kraken_codes(exc: Exception) -> list[str]:
    """Kraken's error strings from a ccxt exception ("kraken {"error":["EAPI:..."]}")."""
    text = str(exc)
    start = text.find("{")
    if start >= 0:
        try:
            body = json.loads(text[start:])
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), list):
            return [str(code) for code in body["error"]][:5]
    return [match.strip() for match in _CODE.findall(text)][:5]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _safe_cause(exc: Exception, secrets: list[str]) -> Exception | None:
    """The original exception for the traceback, unless its text holds a secret."""
    text = str(exc)
    return None if any(secret and secret in text for secret in secrets) else exc


# --- Converting values --------------------------------------------------------------------------
