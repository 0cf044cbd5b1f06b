"""Kraken margin figures (TradeBalance, OpenPositions) through ccxt: fetched, stored, run."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reconciliation.importers.assets import DEFAULT_ALIASES, aliases_for
from reconciliation.importers.base import COLUMNS
from reconciliation.importers.exchange_api import ExchangeFetchError, fetch_kraken, kraken_client
from reconciliation.models import Break, BreakObservation, Dataset, MarginRecord
from tests.reconciliation.conftest import EXCHANGE
from tests.reconciliation.doors import run_against_book
from tests.reconciliation.kraken_server import PERMISSION_DENIED, KrakenServer, load

SECRET = base64.b64encode(b"m" * 64).decode()
ALIASES = aliases_for("kraken", DEFAULT_ALIASES)
EXPECTED = json.loads((EXCHANGE / "statement_margin_expected.json").read_text())["kraken_margin"]
TRADE_BALANCE = "/0/private/TradeBalance"
OPEN_POSITIONS = "/0/private/OpenPositions"


def recorded_open_positions() -> dict[str, Decimal]:
    """Signed open volume per base asset, worked out here from the recorded answer."""
    assets = load("AssetPairs.json")["result"]
    held: dict[str, Decimal] = defaultdict(Decimal)
    for position in load("OpenPositions.json")["result"].values():
        base = ALIASES[assets[position["pair"]]["base"]]
        sign = 1 if position["type"] == "buy" else -1
        held[base] += sign * (Decimal(position["vol"]) - Decimal(position["vol_closed"]))
    return dict(held)


@pytest.fixture
def server():
    with KrakenServer(secret=SECRET) as running:
        yield running


@pytest.fixture
def client(server):
    return kraken_client(api_key="margin-test-key", secret=SECRET, base_url=server.url)


def fetch_margin(client):
    return fetch_kraken(client, since=None, aliases=ALIASES, kinds=("margin",), sleep=lambda s: 0)


# --- The client against the recorded answers ----------------------------------------------------


def test_margin_alone_calls_trade_balance_and_open_positions_only(server, client):
    parsed = fetch_margin(client)
    assert set(parsed) == {"margin"}
    private = [r for r in server.requests if r.path.startswith("/0/private/")]
    assert [r.path for r in private] == [TRADE_BALANCE, OPEN_POSITIONS]
    assert private[0].form["asset"] == "ZUSD" and private[1].form["docalcs"] == "true"
    assert all(r.signature_ok for r in private)


def test_margin_figures_are_kraken_strings_exactly(client):
    margin = fetch_margin(client)["margin"]
    assert margin.ok, margin.errors.first()
    assert margin.table.column_names == list(COLUMNS["margin"])
    rows = {row["asset"]: row for row in margin.table.to_pylist()}
    balance = load("TradeBalance.json")["result"]
    assert (rows["USD"]["collateral"], rows["USD"]["used_margin"]) == (balance["tb"], balance["m"])
    assert rows["USD"]["open_position"] is None
    held = {a: Decimal(r["open_position"]) for a, r in rows.items() if r["open_position"]}
    assert (
        held
        == recorded_open_positions()
        == {asset: Decimal(v) for asset, v in EXPECTED["open_position"].items()}
    )
    assert {(rows[a]["collateral"], rows[a]["used_margin"]) for a in held} == {("0", "0")}
    assert len({row["as_of"] for row in rows.values()}) == 1
    extra = json.loads(rows["USD"]["extra"])
    assert {extra[f"kraken_{k}"] for k in ("eb", "e", "mf", "ml")} == {
        balance[k] for k in ("eb", "e", "mf", "ml")
    }
    assert json.loads(rows["ETH"]["extra"])["positions"].count(",") == 1  # two ETH positions


def test_without_open_positions_only_the_balance_row_remains(server, client):
    server.set_response(OPEN_POSITIONS, {"error": [], "result": {}})
    balance = {k: v for k, v in load("TradeBalance.json")["result"].items() if k != "ml"}
    server.set_response(TRADE_BALANCE, {"error": [], "result": balance})
    [row] = fetch_margin(client)["margin"].table.to_pylist()
    assert (row["asset"], row["used_margin"], row["open_position"]) == ("USD", balance["m"], None)
    assert "kraken_ml" not in json.loads(row["extra"])


def test_a_position_kraken_cannot_describe_is_a_row_error(server, client):
    answer = load("OpenPositions.json")
    first = sorted(answer["result"])[0]
    answer["result"][first].update(pair="NOSUCHPAIR", vol="1.2.3")
    server.set_response(OPEN_POSITIONS, answer)
    margin = fetch_margin(client)["margin"]
    reasons = sorted((e.column, e.value) for e in margin.errors.first())
    assert reasons == [("pair", "NOSUCHPAIR"), ("vol", "1.2.3")]
    assert all(first in e.reason for e in margin.errors.first())


def test_a_key_without_the_margin_permission_is_told_which_one(server, client):
    server.fail_next(TRADE_BALANCE, PERMISSION_DENIED)
    with pytest.raises(ExchangeFetchError, match='"Query Open Orders & Trades"') as caught:
        fetch_margin(client)
    assert caught.value.kind == "permission" and "margin figures" in caught.value.message


# --- The command, the read-back, a margin run ---------------------------------------------------


@pytest.fixture
def kraken_api(kraken, server, monkeypatch):
    monkeypatch.setenv("EXCHANGE_KRAKEN_MAIN_API_KEY", "margin-test-key")
    monkeypatch.setenv("EXCHANGE_KRAKEN_MAIN_API_SECRET", SECRET)
    kraken.source.api_base_url = server.url
    kraken.source.save()
    return kraken


def fetched_margin(capsys) -> dict:
    call_command("fetch_exchange", "--account", "kraken/main", "--kind", "margin", "--json")
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_fetch_exchange_kind_margin_stores_a_margin_dataset_that_reads_back_exactly(
    kraken_api, server, tmp_path, capsys
):
    line = fetched_margin(capsys)
    assert list(line["datasets"]) == ["margin"]
    assert line["datasets"]["margin"]["rows"] == 1 + len(EXPECTED["open_position"])
    dataset = Dataset.objects.get(pk=line["datasets"]["margin"]["dataset_id"])
    assert (dataset.kind, dataset.format, dataset.account) == (
        "margin", "kraken-api-margin", kraken_api,
    )  # fmt: skip
    assert not server.requests_to("/0/private/Ledgers")  # only what was asked for

    out = tmp_path / "margin.json"
    call_command("export_dataset", dataset.pk, "--format", "json", "--output", str(out))
    rows = {row["asset"]: row for row in json.loads(out.read_text())}
    assert Decimal(rows["USD"]["collateral"]) == Decimal(EXPECTED["collateral"])
    assert Decimal(rows["USD"]["used_margin"]) == Decimal(EXPECTED["used_margin"])
    assert {a: Decimal(r["open_position"]) for a, r in rows.items() if r["open_position"]} == {
        asset: Decimal(v) for asset, v in EXPECTED["open_position"].items()
    }
    assert {row["account"] for row in rows.values()} == {"main"}


def test_margin_and_history_can_be_fetched_together(kraken_api, capsys):
    call_command("fetch_exchange", "--account", "kraken/main", "--kind", "ledger",
                 "--kind", "margin", "--json")  # fmt: skip
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(line["datasets"]) == ["ledger", "margin"]
    assert MarginRecord.objects.count() == line["datasets"]["margin"]["rows"]


def test_a_refused_margin_answer_stores_nothing_at_all(kraken_api, server):
    server.set_response(OPEN_POSITIONS, {"error": [], "result": {"T1": {"pair": "NOPE"}}})
    with pytest.raises(CommandError, match="margin answer cannot be loaded"):
        call_command("fetch_exchange", "--account", "kraken/main", "--kind", "ledger",
                     "--kind", "margin")  # fmt: skip
    assert Dataset.objects.count() == 0


def test_an_unknown_kind_is_refused_by_the_command(kraken_api):
    with pytest.raises(CommandError, match="invalid choice: 'positions'"):
        call_command("fetch_exchange", "--account", "kraken/main", "--kind", "positions")


def test_kraken_margin_is_the_external_side_of_a_margin_run_against_a_book(
    kraken_api, book, capsys
):
    line = fetched_margin(capsys)
    exchange = Dataset.objects.get(pk=line["datasets"]["margin"]["dataset_id"])
    as_of = exchange.as_of.isoformat().replace("+00:00", "Z")
    used = Decimal(EXPECTED["used_margin"])
    held = recorded_open_positions()
    # The book: the collateral as Kraken has it, the used margin ten times too large, the BTC
    # short booked as a long, ETH as Kraken has it.
    text = "account,asset,collateral,used_margin,as_of,open_position\n" + "".join(
        f"main,{asset},{collateral},{margin},{as_of},{position}\n"
        for asset, collateral, margin, position in [
            ("USD", EXPECTED["collateral"], used * 10, ""),
            ("BTC", "0", "0", -held["BTC"]),
            ("ETH", "0", "0", held["ETH"]),
        ]
    )
    run = run_against_book(book, "generic-margin", text, "margin", exchange)
    observed = {
        (o.break_record.asset, o.break_record.field): (o.internal_value, o.external_value)
        for o in BreakObservation.objects.filter(run=run).select_related("break_record")
    }
    assert observed == {
        ("USD", "used_margin"): (used * 10, used),
        ("BTC", "open_position"): (-held["BTC"], held["BTC"]),
    }
    assert "decimal_shift" in Break.objects.get(asset="USD", field="used_margin").causes
    assert "sign_flip" in Break.objects.get(asset="BTC", field="open_position").causes
