"""fetch_exchange: the real ccxt client against a local Kraken stand-in, stored as datasets."""

import base64
import json
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from reconciliation.datasets.exchange_fetch import ExchangeUnavailable, fetch_exchange
from reconciliation.datasets.ingest import DatasetRejected
from reconciliation.models import BalanceRecord, Dataset, LedgerEntryRecord, TradeRecord
from tests.reconciliation.kraken_server import INVALID_NONCE, KrakenServer, load

pytestmark = pytest.mark.django_db

SECRET = base64.b64encode(b"k" * 64).decode()


@pytest.fixture
def server(kraken, monkeypatch):
    monkeypatch.setenv("EXCHANGE_KRAKEN_MAIN_API_KEY", "test-key")
    monkeypatch.setenv("EXCHANGE_KRAKEN_MAIN_API_SECRET", SECRET)
    with KrakenServer(secret=SECRET) as running:
        kraken.source.api_base_url = running.url
        kraken.source.save()
        yield running


def test_fetch_stores_balances_ledger_and_trades(server, kraken, capsys):
    call_command("fetch_exchange", "--account", "kraken/main", "--json")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["account"] == "kraken/main"
    assert {k: v["rows"] for k, v in line["datasets"].items()} == {
        "balances": BalanceRecord.objects.count(),
        "ledger": 73,
        "trades": 27,
    }
    assert LedgerEntryRecord.objects.count() == 73 and TradeRecord.objects.count() == 27
    assets = set(BalanceRecord.objects.values_list("asset", flat=True))
    assert {"BTC", "USD", "DOT.S"} <= assets
    assert AuditEvent.objects.filter(action="exchange.fetched").count() == 1


def test_fetching_the_same_history_twice_reuses_ledger_and_trades(server, kraken, capsys):
    call_command("fetch_exchange", "--account", "main", "--json")
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["datasets"]
    call_command("fetch_exchange", "--account", "main", "--json")
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["datasets"]
    assert second["ledger"] == {**first["ledger"], "created": False}
    assert second["trades"]["dataset_id"] == first["trades"]["dataset_id"]
    assert Dataset.objects.filter(kind="ledger").count() == 1


def test_invalid_nonce_is_reported_clearly_and_stores_nothing(server, kraken):
    server.fail_next("/0/private/BalanceEx", INVALID_NONCE, times=1)
    with pytest.raises(CommandError, match="nonce") as caught:
        call_command("fetch_exchange", "--account", "kraken/main")
    assert "test-key" not in str(caught.value) and SECRET not in str(caught.value)
    assert Dataset.objects.count() == 0


def test_missing_credentials_name_the_variables(kraken, monkeypatch):
    monkeypatch.delenv("EXCHANGE_KRAKEN_MAIN_API_KEY", raising=False)
    with pytest.raises(CommandError, match="EXCHANGE_KRAKEN_MAIN_API_KEY"):
        call_command("fetch_exchange", "--account", "kraken/main")


def test_bad_since_is_refused(kraken):
    with pytest.raises(CommandError, match="not an ISO 8601"):
        call_command("fetch_exchange", "--account", "kraken/main", "--since", "yesterday")


# An answer the API path must refuse as the file path does (ingest.store checks every door's
# rows): text PostgreSQL cannot hold or a column cannot fit, a control character in an id.
UNSTORABLE = {
    "a ledger id longer than its column": ("L" * 101, "entry_id", "longer than 100"),
    "a NUL in a reference": ("TAPR38-\x00-ZMZZWW", "reference", "control character"),
    "an escape in a subtype": ("reward\x1b[31m", "subtype", "control character"),
}


@pytest.mark.parametrize("case", UNSTORABLE)
def test_an_api_answer_with_unstorable_text_is_refused_by_row(case, server, kraken):
    value, column, reason = UNSTORABLE[case]
    answer = load("Ledgers_page1.json")
    entries = answer["result"]["ledger"]
    first = next(iter(entries))
    if column == "entry_id":
        entries[value] = entries.pop(first)
    else:
        entries[first]["refid" if column == "reference" else column] = value
    answer["result"]["count"] = len(entries)
    server.set_response("/0/private/Ledgers", answer)
    with pytest.raises(CommandError) as refused:
        call_command("fetch_exchange", "--account", "kraken/main", "--kind", "ledger")
    assert "cannot be loaded" in str(refused.value), str(refused.value)
    assert refused.value.returncode == 1
    errors = refused.value.__cause__.errors.first()
    assert [(e.column, reason in e.reason) for e in errors] == [(column, True)], errors
    assert Dataset.objects.count() == 0
    assert LedgerEntryRecord.objects.count() == 0


def test_an_api_answer_the_parser_refuses_is_a_row_error_not_a_crash(server, kraken):
    answer = load("Ledgers_page1.json")
    entry = next(iter(answer["result"]["ledger"].values()))
    entry["amount"] = "1.2.3"
    server.set_response("/0/private/Ledgers", answer)
    with pytest.raises(CommandError, match="Kraken's ledger answer cannot be loaded") as refused:
        call_command("fetch_exchange", "--account", "kraken/main", "--kind", "ledger")
    [error] = refused.value.__cause__.errors.first()
    assert (error.column, error.value) == ("amount", "1.2.3")
    assert Dataset.objects.count() == 0


# Values a broken or hostile answer may hold where Kraken sends strings.
ODD_VALUES = ["", " ", "\x00", "a\x1fb", "é" * 101, "1e400", "-0", "1,5", "0x10", "NaN",
              "9" * 40, None, True, 1.5, 10**30, [], {"a": 1}, "\ud800"]  # fmt: skip


@pytest.mark.parametrize("seed", range(12))
def test_a_mangled_api_answer_is_refused_by_row_or_stored_never_a_crash(seed, server, kraken):
    """Kraken's answers fuzzed (seeded): fetch_exchange refuses them row by row, or stores them;
    nothing else escapes, and a refusal stores nothing."""
    rng = random.Random(seed)
    for path, file, key in (
        ("/0/private/Ledgers", "Ledgers_page1.json", "ledger"),
        ("/0/private/TradesHistory", "TradesHistory.json", "trades"),
        ("/0/private/OpenPositions", "OpenPositions.json", None),
        ("/0/private/TradeBalance", "TradeBalance.json", ""),  # the result is the one entry
    ):
        answer = load(file)
        entries = answer["result"][key] if key else answer["result"]
        for _ in range(3):
            entry = entries if key == "" else entries[rng.choice(sorted(entries))]
            entry[rng.choice(sorted(entry))] = rng.choice(ODD_VALUES)
        server.set_response(path, answer)
    try:
        fetched = fetch_exchange(kraken, kinds=("ledger", "trades", "margin"))
    except DatasetRejected as refused:
        assert refused.errors.total >= 1, refused.message
        assert all(error.row >= 1 and error.column for error in refused.errors.first())
        assert Dataset.objects.count() == 0
    except ExchangeUnavailable as refused:  # text that is no text: the answer as a whole
        assert "lone surrogate" in refused.message
        assert Dataset.objects.count() == 0
    else:
        assert Dataset.objects.count() == len([f for f in fetched if f.result])
