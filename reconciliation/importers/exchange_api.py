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
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from urllib.parse import urlsplit

import ccxt
import pyarrow as pa

from .assets import malformed_assets, normalise_assets, normalise_code
from .base import (
    TIME,
    Parsed,
    RowErrors,
    canonical_table,
    decimals,
    extra_json,
    one_of,
    required_text,
)

PAGE_LIMIT_GUARD = 100_000  # pages; a runaway loop stops with an error long before this
MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z

DEFAULT_BASE_URL = "https://api.kraken.com"

PERMISSIONS = '"Query Funds", "Query Ledger Entries" and "Query Closed Orders & Trades"'


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
    retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Parsed]:
    """Balances, ledger entries and trades of the client's account, as canonical tables.

    `since` (timezone-aware) keeps ledger entries and trades at or after that instant; Kraken's
    `start` is exclusive and in whole seconds, so we ask from the second before and drop the
    few earlier rows. `aliases` maps Kraken codes to assets (XXBT -> BTC); suffixes such as
    `.S`, `.M`, `.F` are kept (DOT.S stays apart from DOT). The tables have no `account`.
    """
    if since is not None and (since.tzinfo is None or since.utcoffset() is None):
        raise ValueError("since must be a timezone-aware datetime")
    caller = _Caller(client, tuple(retry_delays), sleep)

    caller.call("public", "the asset and pair list", client.load_markets)
    balances_result = caller.call("private", "balances", client.private_post_balanceex)
    as_of = datetime.now(UTC)
    balances = _balances(balances_result, aliases, as_of)

    params: dict[str, str] = {}
    start = None
    if since is not None:
        start = _start_param(since)
        params["start"] = str(start)
    ledger_entries, ledger_notes = _paged(
        caller, client.private_post_ledgers, "ledger", "ledger entries", params
    )
    trade_entries, trade_notes = _paged(
        caller,
        client.private_post_tradeshistory,
        "trades",
        "trades",
        {**params, "trades": "true", "ledgers": "true"},
    )
    ledger = _ledger(ledger_entries, aliases, since)
    trades = _trades(trade_entries, aliases, since, _PairResolver(client, aliases))
    ledger.notes.update(ledger_notes, start=start)
    trades.notes.update(trade_notes, start=start)
    return {"balances": balances, "ledger": ledger, "trades": trades}


def _start_param(since: datetime) -> int:
    """Kraken's exclusive whole-second `start` that still includes `since` itself."""
    seconds = _seconds(since)
    return int(seconds.to_integral_value(rounding=ROUND_CEILING)) - 1


def _seconds(moment: datetime) -> Decimal:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros).scaleb(-6)


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
        count = _int(result.get("count"), default=0)
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
            if api == "public":
                return response
            return self._result(response, what)

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
                f"Give the key the {PERMISSIONS} permissions in Kraken's API settings (they "
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
                    f"{PERMISSIONS} permissions."
                )
            else:
                message = (
                    "No Kraken API key or secret is configured for this account: add a key "
                    f"with the {PERMISSIONS} permissions."
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


def _text(value) -> str | None:
    """A JSON value as text: strings as sent, numbers in plain notation, booleans in JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    if isinstance(value, list | tuple):
        return ",".join(_text(item) or "" for item in value)
    return json.dumps(value, sort_keys=True, default=str)


def _int(value, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _unix_micros(value) -> int | None:
    """A Unix time in seconds (JSON float or string) as integer microseconds, exactly."""
    text = _text(value)
    if text is None or text.strip() == "":
        return None
    try:
        seconds = Decimal(text.strip())
    except ArithmeticError:
        return None
    if not seconds.is_finite() or abs(seconds) > MAX_UNIX_SECONDS:
        return None
    return int((seconds * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))


def _times(values: list, rows: pa.Array, column: str, errors: RowErrors) -> pa.Array:
    micros = []
    for row, value in zip(rows.to_pylist(), values, strict=True):
        converted = _unix_micros(value)
        if converted is None:
            errors.add(row, column, _text(value), "not a Unix time in seconds")
        micros.append(converted)
    return pa.array(micros, pa.int64()).cast(TIME)


def _strings(values: Iterable) -> pa.Array:
    return pa.array([_text(value) for value in values], pa.string())


def _extras(records: list[dict], consumed: set[str], first: dict[str, list]) -> pa.Array:
    """The `extra` JSON: `first` columns, then every key of the records not in `consumed`."""
    names = list(first)
    for record in records:
        for name in record:
            if name not in consumed and name not in names:
                names.append(name)
    columns = dict(first)
    for name in names:
        if name not in columns:
            columns[name] = [record.get(name) for record in records]
    table = pa.table({name: _strings(columns[name]) for name in names}) if names else None
    if table is None:
        return pa.array(["{}"] * len(records), pa.string())
    return extra_json(table, names)


def _chronological(entries: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Oldest first: the API's newest-first order reversed, then (stably) by time."""
    entries = [(key, entry if isinstance(entry, dict) else {}) for key, entry in entries]
    entries.reverse()
    return sorted(entries, key=lambda item: _unix_micros(item[1].get("time")) or 0)


def _since_micros(since: datetime | None) -> int | None:
    return None if since is None else int(_seconds(since).scaleb(6))


def _after_since(entries: list[tuple[str, dict]], since: datetime | None):
    limit = _since_micros(since)
    if limit is None:
        return entries, 0
    kept = []
    for item in entries:
        micros = _unix_micros(item[1].get("time"))
        if micros is None or micros >= limit:  # a missing time is reported, not dropped
            kept.append(item)
    return kept, len(entries) - len(kept)


def _row_numbers(length: int) -> pa.Array:
    return pa.array(range(1, length + 1), pa.int64())


def _assets(codes: pa.Array, rows: pa.Array, column: str, aliases, errors: RowErrors):
    codes = required_text(codes, rows, column, errors)
    assets = normalise_assets(codes, aliases)
    errors.add_mask(malformed_assets(assets), rows, codes, column, "not a recognisable asset code")
    return assets


# --- Balances -----------------------------------------------------------------------------------


def _balances(result: dict, aliases: dict[str, str], as_of: datetime) -> Parsed:
    errors = RowErrors()
    items = sorted(
        ((str(code), value) for code, value in result.items()),
        key=lambda item: (normalise_code(item[0], aliases), item[0]),
    )
    records = [value if isinstance(value, dict) else {"balance": value} for _, value in items]
    rows = _row_numbers(len(items))
    codes = pa.array([code for code, _ in items], pa.string())
    columns = {
        "row_number": rows,
        "asset": _assets(codes, rows, "asset", aliases, errors),
        "wallet": pa.array([""] * len(items), pa.string()),
        "quantity": decimals(
            _strings(record.get("balance") for record in records), rows, "quantity", errors
        ),
        "as_of": pa.array([as_of] * len(items), TIME),
        "extra": _extras(records, {"balance"}, {"kraken_asset": [code for code, _ in items]}),
    }
    _one_row_per_asset(columns["asset"], codes, rows, errors)
    return Parsed("balances", canonical_table("balances", columns), errors)


def _one_row_per_asset(assets: pa.Array, codes: pa.Array, rows: pa.Array, errors: RowErrors):
    seen: dict[str, tuple[int, str]] = {}
    for row, asset, code in zip(
        rows.to_pylist(), assets.to_pylist(), codes.to_pylist(), strict=True
    ):
        if asset in seen:
            first_row, first_code = seen[asset]
            errors.add(
                row, "asset", code,
                f"Kraken codes {first_code} (row {first_row}) and {code} both map to {asset}: "
                "fix the asset aliases",
            )  # fmt: skip
        else:
            seen[asset] = (row, code)


# --- Ledger -------------------------------------------------------------------------------------

_LEDGER_FIELDS = {"refid", "time", "type", "subtype", "asset", "amount", "fee", "balance", "wallet"}


def _ledger(entries: list, aliases: dict[str, str], since: datetime | None) -> Parsed:
    errors = RowErrors()
    entries, dropped = _after_since(_chronological(entries), since)
    records = [entry for _, entry in entries]
    rows = _row_numbers(len(records))

    def field(name: str) -> pa.Array:
        return _strings(record.get(name) for record in records)

    def text(name: str) -> pa.Array:
        return pa.array([_text(record.get(name)) or "" for record in records], pa.string())

    columns = {
        "row_number": rows,
        "entry_id": pa.array([key for key, _ in entries], pa.string()),
        "reference": text("refid"),
        "asset": _assets(field("asset"), rows, "asset", aliases, errors),
        "wallet": text("wallet"),
        "amount": decimals(field("amount"), rows, "amount", errors),
        "fee": decimals(field("fee"), rows, "fee", errors),
        "balance": decimals(field("balance"), rows, "balance", errors, required=False),
        "type": text("type"),
        "subtype": text("subtype"),
        "occurred_at": _times([record.get("time") for record in records], rows, "time", errors),
        "extra": _extras(
            records, _LEDGER_FIELDS, {"kraken_asset": [record.get("asset") for record in records]}
        ),
    }
    notes = {"dropped_before_since": dropped} if dropped else {}
    return Parsed("ledger", canonical_table("ledger", columns), errors, notes)


# --- Trades -------------------------------------------------------------------------------------

_TRADE_FIELDS = {"ordertxid", "pair", "time", "type", "price", "cost", "fee", "vol", "trade_id"}


class _PairResolver:
    """Kraken REST pair ids (XXBTZUSD, XDGUSD) to normalised (base, quote), via AssetPairs."""

    def __init__(self, client, aliases: dict[str, str]):
        self.aliases = aliases
        self.pairs: dict[str, tuple[str, str]] = {}
        for pair_id, markets in (getattr(client, "markets_by_id", None) or {}).items():
            market = markets[0] if isinstance(markets, list) and markets else markets
            info = (market or {}).get("info") or {}
            base, quote = info.get("base"), info.get("quote")
            if base and quote:
                self.pairs[pair_id] = (base, quote)
                if info.get("altname"):
                    self.pairs.setdefault(info["altname"], (base, quote))
        self.codes: set[str] = set()
        for code, currency in (getattr(client, "currencies_by_id", None) or {}).items():
            self.codes.add(code)
            altname = ((currency or {}).get("info") or {}).get("altname")
            if altname:
                self.codes.add(altname)

    def resolve(self, pair_id: str) -> tuple[str, str] | None:
        found = self.pairs.get(pair_id)
        if found is None:
            # A pair no longer listed: split the id into two known asset codes, if only one way.
            splits = [
                (pair_id[:cut], pair_id[cut:])
                for cut in range(1, len(pair_id))
                if pair_id[:cut] in self.codes and pair_id[cut:] in self.codes
            ]
            if len(splits) != 1:
                return None
            found = splits[0]
        return normalise_code(found[0], self.aliases), normalise_code(found[1], self.aliases)


def _trades(entries: list, aliases, since: datetime | None, pairs: _PairResolver) -> Parsed:
    errors = RowErrors()
    entries, dropped = _after_since(_chronological(entries), since)
    records = [entry for _, entry in entries]
    rows = _row_numbers(len(records))

    def field(name: str) -> pa.Array:
        return _strings(record.get(name) for record in records)

    def text(name: str) -> pa.Array:
        return pa.array([_text(record.get(name)) or "" for record in records], pa.string())

    bases, quotes, names = [], [], []
    for row, record in zip(rows.to_pylist(), records, strict=True):
        pair_id = _text(record.get("pair")) or ""
        resolved = pairs.resolve(pair_id) if pair_id else None
        if resolved is None:
            errors.add(
                row, "pair", pair_id,
                "unknown Kraken pair: not in Kraken's AssetPairs list, and not two known assets",
            )  # fmt: skip
            resolved = ("", "")
        bases.append(resolved[0])
        quotes.append(resolved[1])
        names.append(f"{resolved[0]}/{resolved[1]}" if resolved[0] else "")
    quote = pa.array(quotes, pa.string())
    columns = {
        "row_number": rows,
        "trade_id": pa.array([key for key, _ in entries], pa.string()),
        "order_id": text("ordertxid"),
        "exchange_trade_id": text("trade_id"),
        "pair": pa.array(names, pa.string()),
        "base": pa.array(bases, pa.string()),
        "quote": quote,
        "side": one_of(field("type"), rows, "type", {"buy", "sell"}, errors),
        "quantity": decimals(field("vol"), rows, "vol", errors),
        "price": decimals(field("price"), rows, "price", errors),
        "cost": decimals(field("cost"), rows, "cost", errors, required=False),
        "fee": decimals(field("fee"), rows, "fee", errors),
        "fee_asset": quote,
        "executed_at": _times([record.get("time") for record in records], rows, "time", errors),
        "extra": _extras(
            records, _TRADE_FIELDS, {"kraken_pair": [record.get("pair") for record in records]}
        ),
    }
    notes = {"dropped_before_since": dropped} if dropped else {}
    return Parsed("trades", canonical_table("trades", columns), errors, notes)
