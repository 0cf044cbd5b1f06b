"""Kraken through the real ccxt client, against a local server serving recorded responses."""

from __future__ import annotations

import base64
import csv
import json
import pickle
import shutil
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from reconciliation.importers.assets import DEFAULT_ALIASES, aliases_for
from reconciliation.importers.base import COLUMNS
from reconciliation.importers.exchange_api import (
    ExchangeFetchError,
    fetch_kraken,
    kraken_client,
)
from tests.reconciliation.kraken_server import (
    DATA_DIR,
    INVALID_KEY,
    PERMISSION_DENIED,
    RATE_LIMIT,
    KrakenServer,
)

API_KEY = "RecondeskTestApiKey0123456789abcdefghijklmnopqrstuvwxyzABCD"
SECRET = base64.b64encode(b"x" * 64).decode()
ALIASES = aliases_for("kraken", DEFAULT_ALIASES)
SINCE = datetime.fromtimestamp(1770066329, UTC)  # Kraken `start` 1770066328, as recorded
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LEDGERS = "/0/private/Ledgers"


def recorded(name: str) -> dict:
    """A recorded file with every JSON number as an exact Decimal."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"), parse_float=Decimal)


def at(seconds: Decimal) -> datetime:
    return EPOCH + timedelta(microseconds=int(seconds * 1_000_000))


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server():
    with KrakenServer(secret=SECRET) as running:
        yield running


@pytest.fixture
def client(server):
    return kraken_client(api_key=API_KEY, secret=SECRET, base_url=server.url)


@pytest.fixture
def sleeps():
    return Sleeps()


def fetch(client, sleeps, *, since=SINCE, retry_delays=(1.0, 2.0, 4.0)):
    return fetch_kraken(
        client, since=since, aliases=ALIASES, retry_delays=retry_delays, sleep=sleeps
    )


def assert_canonical(parsed, kind: str) -> None:
    assert parsed.kind == kind
    assert parsed.ok, parsed.errors.first()
    assert parsed.table.column_names == list(COLUMNS[kind])
    assert parsed.table.column("row_number").to_pylist() == list(
        range(1, parsed.table.num_rows + 1)
    )
    assert set(parsed.table.column("account").to_pylist()) <= {""}


def test_the_client_sends_every_call_to_the_base_url(server):
    client = kraken_client(api_key=API_KEY, secret=SECRET, base_url=server.url + "/")
    assert client.urls["api"]["public"] == server.url
    assert client.urls["api"]["private"] == server.url
    assert all(url == server.url for url in client.urls["api"].values())
    assert not client.enableRateLimit


def test_balances_match_balance_ex_exactly(client, sleeps):
    before = datetime.now(UTC)
    balances = fetch(client, sleeps)["balances"]
    after = datetime.now(UTC)

    assert_canonical(balances, "balances")
    rows = balances.table.to_pylist()
    expected = {
        "ADA": "16396.87945669", "ADA.F": "12546.15440969", "DOT": "12288.3402000000",
        "DOT.S": "3301.6860578201", "SOL": "219.0845960372", "SOL.S": "382.9234680737",
        "USDC": "5329.52999200", "USDC.M": "22511.88813313", "ETH": "48.7229322380",
        "BTC": "2.9227309122", "DOGE": "169071.57742998", "EUR": "83449.2705",
        "USD": "220477.6260",
    }  # fmt: skip
    assert {row["asset"]: row["quantity"] for row in rows} == expected
    assert len(rows) == 13  # one row per Kraken code: DOT and DOT.S, USDC and USDC.M apart

    raw = recorded("BalanceEx.json")["result"]
    by_code = {json.loads(row["extra"])["kraken_asset"]: row for row in rows}
    assert set(by_code) == set(raw)
    for code, values in raw.items():
        assert Decimal(by_code[code]["quantity"]) == Decimal(values["balance"])
        assert by_code[code]["quantity"] == values["balance"]  # the string, as sent
        assert json.loads(by_code[code]["extra"])["hold_trade"] == values["hold_trade"]
    assert by_code["XXBT"]["asset"] == "BTC"
    assert by_code["XXDG"]["asset"] == "DOGE"
    assert by_code["ZUSD"]["asset"] == "USD"
    assert json.loads(by_code["ZUSD"]["extra"])["hold_trade"] == "2500.0000"
    assert {row["wallet"] for row in rows} == {""}
    as_of = {row["as_of"] for row in rows}
    assert len(as_of) == 1
    assert before <= as_of.pop() <= after


def test_the_ledger_arrives_in_two_pages_oldest_first_and_exact(server, client, sleeps):
    ledger = fetch(client, sleeps)["ledger"]

    calls = server.requests_to(LEDGERS)
    assert [call.ofs for call in calls] == [0, 50]
    assert [call.form["start"] for call in calls] == ["1770066328", "1770066328"]
    assert_canonical(ledger, "ledger")
    assert ledger.table.num_rows == 73
    assert ledger.notes["ledger_count"] == 73
    assert ledger.notes["ledger_pages"] == 2

    raw = recorded("Ledgers_page1.json")["result"]["ledger"]
    raw.update(recorded("Ledgers_page2.json")["result"]["ledger"])
    rows = ledger.table.to_pylist()
    assert {row["entry_id"] for row in rows} == set(raw)
    times = [row["occurred_at"] for row in rows]
    assert times == sorted(times)
    for row in rows:
        entry = raw[row["entry_id"]]
        assert row["reference"] == entry["refid"]
        assert row["amount"] == entry["amount"]
        assert row["fee"] == entry["fee"]
        assert row["balance"] == entry["balance"]
        assert row["type"] == entry["type"]
        assert row["subtype"] == entry["subtype"]
        assert row["occurred_at"] == at(entry["time"])  # to the microsecond
        extra = json.loads(row["extra"])
        assert extra["aclass"] == entry["aclass"]
        assert extra["kraken_asset"] == entry["asset"]

    by_id = {row["entry_id"]: row for row in rows}
    assert by_id["L90K33-I68BX-8M7W54"]["asset"] == "SOL.S"
    assert by_id["L90K33-I68BX-8M7W54"]["occurred_at"] == datetime(
        2026, 2, 27, 10, 16, 5, 313900, tzinfo=UTC
    )
    assert {"DOT", "DOT.S", "USDC", "USDC.M", "ADA.F", "BTC", "USD"} <= {
        row["asset"] for row in rows
    }
    # The same 73 entries, in the same order, as the last 73 rows of the CSV export.
    with (DATA_DIR.parent / "kraken_ledgers.csv").open(newline="", encoding="utf-8") as file:
        exported = list(csv.DictReader(file))[-73:]
    assert [row["entry_id"] for row in rows] == [line["txid"] for line in exported]
    assert [row["amount"] for row in rows] == [line["amount"] for line in exported]


def test_trades_history_with_pairs_as_base_and_quote(server, client, sleeps):
    trades = fetch(client, sleeps)["trades"]

    calls = server.requests_to("/0/private/TradesHistory")
    assert [call.ofs for call in calls] == [0]
    assert calls[0].form["start"] == "1770066328"
    assert_canonical(trades, "trades")
    assert trades.table.num_rows == 27

    raw = recorded("TradesHistory.json")["result"]["trades"]
    rows = trades.table.to_pylist()
    assert {row["trade_id"] for row in rows} == set(raw)
    executed = [row["executed_at"] for row in rows]
    assert executed == sorted(executed)
    pairs = {"XXBTZUSD": "BTC/USD", "XDGUSD": "DOGE/USD", "XETHXXBT": "ETH/BTC",
             "XETHZUSD": "ETH/USD", "XETHZEUR": "ETH/EUR", "SOLUSD": "SOL/USD",
             "DOTUSD": "DOT/USD", "USDCUSD": "USDC/USD"}  # fmt: skip
    for row in rows:
        trade = raw[row["trade_id"]]
        assert row["pair"] == pairs[trade["pair"]]
        assert row["pair"] == f"{row['base']}/{row['quote']}"
        assert row["fee_asset"] == row["quote"]
        assert row["order_id"] == trade["ordertxid"]
        assert row["exchange_trade_id"] == str(trade["trade_id"])
        assert row["side"] == trade["type"]
        assert row["quantity"] == trade["vol"]
        assert row["price"] == trade["price"]
        assert row["cost"] == trade["cost"]
        assert row["fee"] == trade["fee"]
        assert row["executed_at"] == at(trade["time"])
        extra = json.loads(row["extra"])
        assert extra["kraken_pair"] == trade["pair"]
        assert extra["ordertype"] == trade["ordertype"]
        assert extra["ledgers"] == ",".join(trade["ledgers"])
        assert extra["postxid"] == trade["postxid"]
        assert extra["maker"] == ("true" if trade["maker"] else "false")
    assert {row["pair"] for row in rows} == set(pairs.values())

    by_id = {row["trade_id"]: row for row in rows}
    closing = by_id["TNFK15-98JHE-8ZGZLT"]
    assert (closing["pair"], closing["side"], closing["price"], closing["quantity"]) == (
        "BTC/USD", "sell", "121894.20000", "0.04115620",
    )  # fmt: skip
    assert json.loads(closing["extra"])["misc"] == "closing"
    with (DATA_DIR.parent / "kraken_trades.csv").open(newline="", encoding="utf-8") as file:
        exported = list(csv.DictReader(file))[-27:]
    assert [row["trade_id"] for row in rows] == [line["txid"] for line in exported]
    assert [row["pair"] for row in rows] == [line["pair"] for line in exported]


def test_since_is_inclusive_and_passed_as_kraken_start(server, client, sleeps):
    oldest = datetime(2026, 2, 2, 21, 5, 29, 589400, tzinfo=UTC)  # first ledger row and trade
    result = fetch(client, sleeps, since=oldest)
    assert result["ledger"].table.num_rows == 73
    assert result["trades"].table.num_rows == 27
    assert server.requests_to(LEDGERS)[0].form["start"] == "1770066329"

    later = fetch(client, sleeps, since=oldest + timedelta(microseconds=1))
    assert later["ledger"].table.num_rows == 72
    assert later["trades"].table.num_rows == 26
    assert later["ledger"].notes["dropped_before_since"] == 1

    everything = fetch(client, sleeps, since=None)
    assert "start" not in server.requests_to(LEDGERS)[-1].form
    assert everything["ledger"].table.num_rows == 73

    with pytest.raises(ValueError, match="timezone-aware"):
        fetch(client, sleeps, since=datetime(2026, 2, 1))


def test_a_rate_limit_on_the_first_ledger_call_is_retried(server, client, sleeps):
    server.fail_next(LEDGERS, RATE_LIMIT, times=1)

    result = fetch(client, sleeps)

    assert sleeps == [1.0]
    assert [call.ofs for call in server.requests_to(LEDGERS)] == [0, 0, 50]
    assert result["ledger"].ok
    assert result["ledger"].table.num_rows == 73
    assert result["trades"].table.num_rows == 27


def test_rate_limits_on_every_call_give_up_after_the_retries(server, client, sleeps):
    server.fail_next(LEDGERS, RATE_LIMIT, times=100)

    with pytest.raises(ExchangeFetchError) as caught:
        fetch(client, sleeps, retry_delays=(0.5, 1.5))

    assert sleeps == [0.5, 1.5]
    assert len(server.requests_to(LEDGERS)) == 3
    error = caught.value
    assert error.kind == "rate_limit"
    assert error.retryable
    assert "rate limit" in error.message
    assert "3 attempts" in error.message
    assert "EAPI:Rate limit exceeded" in error.message
    assert str(error) == error.message


@pytest.mark.parametrize("code", ["EService:Unavailable", "EService:Busy"])
def test_kraken_unavailable_or_busy_is_retried(server, client, sleeps, code):
    server.fail_next("/0/private/BalanceEx", {"error": [code]}, times=2)

    result = fetch(client, sleeps)

    assert sleeps == [1.0, 2.0]
    assert result["balances"].table.num_rows == 13

    server.fail_next("/0/private/TradesHistory", {"error": [code]}, times=4)
    with pytest.raises(ExchangeFetchError) as caught:
        fetch(client, sleeps)
    assert caught.value.kind == "unavailable"
    assert code in caught.value.message


def test_an_invalid_nonce_stops_at_once_and_says_what_to_do(server, client, sleeps):
    server.fail_next(
        "/0/private/BalanceEx",
        (DATA_DIR / "error_invalid_nonce.json").read_text(encoding="utf-8"),
    )

    with pytest.raises(ExchangeFetchError) as caught:
        fetch(client, sleeps)

    assert sleeps == []  # not retried: the same key is in use elsewhere
    message = caught.value.message
    assert caught.value.kind == "invalid_nonce"
    assert "EAPI:Invalid nonce" in message
    assert "nonce window" in message
    assert "same API key" in message
    assert API_KEY not in message
    assert SECRET not in message
    assert API_KEY not in str(caught.value.__cause__ or "")


@pytest.mark.parametrize(
    ("body", "kind", "phrase"),
    [
        (INVALID_KEY, "auth", "key or its secret"),
        ({"error": ["EAPI:Invalid signature"]}, "auth", "key or its secret"),
        (PERMISSION_DENIED, "permission", "Query Ledger Entries"),
    ],
)
def test_a_wrong_key_or_missing_permission_is_explained(server, client, sleeps, body, kind, phrase):
    server.fail_next(LEDGERS, body)

    with pytest.raises(ExchangeFetchError) as caught:
        fetch(client, sleeps)

    assert sleeps == []
    assert caught.value.kind == kind
    assert phrase in caught.value.message
    assert '"Query Funds"' in caught.value.message
    assert "Query Closed Orders & Trades" in caught.value.message
    assert API_KEY not in caught.value.message
    assert SECRET not in caught.value.message


def test_a_wrong_secret_fails_the_real_signature_check(server, sleeps):
    wrong = base64.b64encode(b"y" * 64).decode()
    client = kraken_client(api_key=API_KEY, secret=wrong, base_url=server.url)

    with pytest.raises(ExchangeFetchError) as caught:
        fetch(client, sleeps)

    assert caught.value.kind == "auth"
    assert "EAPI:Invalid signature" in caught.value.message
    assert server.requests_to("/0/private/BalanceEx")[0].signature_ok is False
    assert wrong not in caught.value.message


def test_private_calls_are_signed_by_ccxt(server, client, sleeps):
    fetch(client, sleeps)

    private = [call for call in server.requests if call.path.startswith("/0/private/")]
    assert [call.path for call in private] == [
        "/0/private/BalanceEx", LEDGERS, LEDGERS, "/0/private/TradesHistory",
    ]  # fmt: skip
    for call in private:
        assert call.method == "POST"
        assert call.headers["API-Key"] == API_KEY
        assert len(base64.b64decode(call.headers["API-Sign"])) == 64  # HMAC-SHA512
        assert call.signature_ok is True  # checked by the server with the secret
        assert API_KEY not in call.body and SECRET not in call.body
    nonces = [int(call.form["nonce"]) for call in private]
    assert nonces == sorted(nonces) and len(set(nonces)) == len(nonces)
    public = [call for call in server.requests if call.path.startswith("/0/public/")]
    assert {call.path for call in public} == {"/0/public/Assets", "/0/public/AssetPairs"}
    assert all("API-Key" not in call.headers for call in public)
    assert server.requests[0].path.startswith("/0/public/")  # markets load first


def test_a_network_error_names_the_host_but_not_the_key(sleeps):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = kraken_client(api_key=API_KEY, secret=SECRET, base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(ExchangeFetchError) as caught:
        fetch(client, sleeps)

    assert caught.value.kind == "network"
    assert f"127.0.0.1:{port}" in caught.value.message
    assert API_KEY not in caught.value.message
    assert SECRET not in caught.value.message
    assert sleeps == []


def test_the_error_survives_pickling_with_its_kind():
    error = ExchangeFetchError("Kraken is busy.", kind="unavailable", retryable=True)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (copy.message, copy.kind, copy.retryable) == ("Kraken is busy.", "unavailable", True)


def test_an_entry_arriving_while_paging_is_kept_once(tmp_path, sleeps):
    # A new entry between the two calls pushes the oldest of page 1 onto page 2 as well.
    shutil.copytree(DATA_DIR, tmp_path, dirs_exist_ok=True)
    page1, page2 = recorded("Ledgers_page1.json"), recorded("Ledgers_page2.json")
    last_id, last = list(page1["result"]["ledger"].items())[-1]
    page2["result"]["ledger"] = {last_id: last, **page2["result"]["ledger"]}
    page2["result"]["count"] = 74
    (tmp_path / "Ledgers_page2.json").write_text(json.dumps(page2, default=str))

    with KrakenServer(secret=SECRET, data_dir=tmp_path) as server:
        client = kraken_client(api_key=API_KEY, secret=SECRET, base_url=server.url)
        ledger = fetch(client, sleeps)["ledger"]

    assert ledger.ok
    assert ledger.table.num_rows == 73
    assert ledger.notes["ledger_repeated_entries_dropped"] == 1
    assert len(set(ledger.table.column("entry_id").to_pylist())) == 73


def test_a_short_answer_is_an_error_not_a_partial_ledger(server, client, sleeps):
    server.set_response(LEDGERS, {"error": [], "result": {"ledger": {}, "count": 5}})

    with pytest.raises(ExchangeFetchError) as caught:
        fetch(client, sleeps)

    assert caught.value.kind == "incomplete"
    assert "reported 5 ledger entries" in caught.value.message


def test_nonces_keep_increasing_even_within_one_millisecond(server, client):
    for _ in range(30):
        client.private_post_balanceex()

    nonces = [int(call.form["nonce"]) for call in server.requests_to("/0/private/BalanceEx")]
    assert len(nonces) == 30
    assert nonces == sorted(set(nonces))  # strictly increasing
