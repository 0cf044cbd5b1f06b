"""Runs: validation, execution, reproducibility, identity across runs, cancel, failures."""

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from reconciliation.datasets import ingest
from reconciliation.demo import data as demo_data
from reconciliation.models import (
    Break,
    BreakObservation,
    Dataset,
    RuleSetVersion,
    Run,
    TradeRecord,
)
from reconciliation.runs import execution as run_execution
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


def start(demo, type_="position", internal="book balances", external="kraken ledgers", **kw):
    return runs.start_run(
        type=type_, internal=demo[internal], external=demo[external], prices=demo["prices"], **kw
    )


def run_now(run):
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    return run


def breaks_of(run):
    rows = BreakObservation.objects.filter(run=run).values_list(
        "break_record__break_key", "internal_value", "external_value", "severity"
    )
    return sorted(rows)


def test_position_run_finds_the_deliberate_differences(demo):
    run = run_now(start(demo))
    assert run.status == "succeeded" and run.progress == 100
    found = {b.asset: b for b in Break.objects.filter(type="position")}
    assert "decimal_shift" in found["ETH"].causes
    assert "sign_flip" in found["SOL.S"].causes
    assert "missing_position" in found["ADA.F"].causes
    assert run.break_count == len(found)
    assert sum(run.by_severity.values()) == run.break_count


def test_the_same_inputs_give_the_same_breaks(demo):
    first = run_now(start(demo))
    second = run_now(start(demo))
    assert breaks_of(first) == breaks_of(second)
    assert set(Break.objects.values_list("times_seen", flat=True)) == {2}


def test_breaks_seen_again_are_rewritten_in_place_without_touching_an_index(demo):
    """Seeing a break again changes no indexed column, and pages keep room: HOT updates."""
    from django.db import connection

    run_now(start(demo))
    seen = Break.objects.count()
    with connection.cursor() as cursor:
        hot = "SELECT pg_stat_get_xact_tuples_hot_updated('reconciliation_break'::regclass)"
        cursor.execute(hot)
        before = cursor.fetchone()[0]
        second = run_now(start(demo))
        cursor.execute(hot)  # counted in this (the test's) transaction, so exact
        assert cursor.fetchone()[0] - before == seen == second.break_count
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'reconciliation_break'")
        assert "fillfactor=50" in cursor.fetchone()[0]


def test_a_break_no_longer_seen_is_resolved_and_reopens_if_it_returns(demo):
    run_now(start(demo))
    eth = Break.objects.get(type="position", asset="ETH")
    fixed_book = demo_data.book_balances(demo_data._ledger_rows(), "2026-02-27T10:16:05Z")
    fixed_book = fixed_book.replace(b"487.229322380", b"48.7229322380")
    fixed = ingest.import_file(
        source=demo["book balances"].source, account=demo["book balances"].account,
        format_code="generic-balances", data=fixed_book, filename="fixed.csv",
    ).dataset  # fmt: skip
    demo_fixed = {**demo, "book balances": fixed}
    run_now(start(demo_fixed))
    eth.refresh_from_db()
    assert eth.status == "resolved" and eth.resolved_at is not None
    run_now(start(demo))
    eth.refresh_from_db()
    assert eth.status == "open" and eth.times_seen == 2


def test_a_task_delivered_twice_stores_nothing_twice(demo):
    run = start(demo)
    run_execution.execute_run(run.pk)
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.deliveries == 1
    assert BreakObservation.objects.filter(run=run).count() == run.break_count
    assert set(Break.objects.values_list("times_seen", flat=True)) == {1}


def test_a_run_left_running_by_a_dead_worker_completes_on_redelivery(demo):
    run = start(demo)
    Run.objects.filter(pk=run.pk).update(status="running", deliveries=1, progress=30)
    run = run_now(run)
    assert run.status == "succeeded" and run.deliveries == 2
    assert BreakObservation.objects.filter(run=run).count() == run.break_count


def test_a_run_delivered_too_often_fails_with_a_clear_message(demo):
    run = start(demo)
    Run.objects.filter(pk=run.pk).update(status="running", deliveries=3)
    run = run_now(run)
    assert run.status == "failed" and "started 3 times" in run.message
    assert not Break.objects.exists()


def test_wrong_datasets_are_refused_and_nothing_is_queued(demo):
    with pytest.raises(runs.RunRefused) as caught:
        start(demo, internal="kraken trades")
    assert "internal" in caught.value.fields
    assert not Run.objects.exists()


def test_a_draft_rule_set_cannot_be_run(demo):
    from reconciliation.rules import services as rule_sets

    draft = rule_sets.start_draft(RuleSetVersion.objects.get().rule_set, by=None)
    with pytest.raises(runs.RunRefused, match="draft"):
        start(demo, rule_set_version=draft)


def test_cancel_a_queued_run_and_a_running_one(demo):
    queued = start(demo)
    assert runs.cancel_run(queued, by=None).status == "cancelled"
    assert run_execution.execute_run(queued.pk) == "cancelled"
    running = start(demo)
    Run.objects.filter(pk=running.pk).update(status="running", deliveries=1)
    assert runs.cancel_run(running, by=None).cancel_requested
    assert run_execution.execute_run(running.pk) == "cancelled"
    assert not Break.objects.exists()
    with pytest.raises(runs.RunNotCancellable):
        runs.cancel_run(running, by=None)
    assert AuditEvent.objects.filter(action="run.cancelled").count() == 2
    assert AuditEvent.objects.filter(action="run.cancel_requested").count() == 1


def test_an_unexpected_failure_is_recorded_with_an_actionable_message(demo, monkeypatch):
    from reconciliation.runs import engine_adapter as run_engine

    def broken(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr(run_engine, "reconcile", broken)
    run = run_now(start(demo))
    assert run.status == "failed"
    assert "Unexpected error (ZeroDivisionError)" in run.message
    assert run.finished_at is not None


@pytest.mark.parametrize("type_", ["trades", "fees"])
def test_trade_runs_store_matches_and_breaks(demo, type_):
    run = run_now(start(demo, type_, "book trades", "kraken trades"))
    assert run.status == "succeeded" and run.break_count > 0
    if type_ == "trades":
        from reconciliation.runs.selectors import run_matches

        matches = run_matches(run)
        assert run.match_count == matches.height > 100
        assert "id" in matches.get_column("rule").to_list()


def test_pricing_configuration_stale_prices_are_breaks_without_fallback(demo):
    import copy

    from reconciliation.models import RuleSet
    from reconciliation.rules import services as rule_sets

    default = RuleSet.objects.get(name="default")
    draft = rule_sets.start_draft(default, by=None)
    definition = copy.deepcopy(draft.definition)
    definition["pricing"] = {"source_priority": ["demo-feed"], "staleness_seconds": 1,
                             "last_known_good": False}  # fmt: skip
    rule_sets.update_draft(draft, definition=definition, by=None)
    version = rule_sets.publish(draft, by=None)
    run = run_now(start(demo, "valuation", rule_set_version=version))
    price_breaks = Break.objects.filter(last_seen_run=run, field="price")
    assert run.status == "succeeded" and price_breaks.exists()
    assert {c for b in price_breaks for c in b.causes} >= {"stale_price"}
    assert not price_breaks.exclude(value_rc=None).exists()  # never valued at zero


def test_pricing_configuration_is_validated(demo):
    import copy

    from reconciliation.engine import rule_definition

    raw = copy.deepcopy(rule_definition.DEFAULT)
    raw["pricing"] = {"source_priority": ["a", "a"], "staleness_seconds": 0,
                      "last_known_good": "yes"}  # fmt: skip
    with pytest.raises(rule_definition.DefinitionInvalid) as caught:
        rule_definition.validate(raw)
    assert set(caught.value.errors) == {
        "pricing.source_priority", "pricing.staleness_seconds", "pricing.last_known_good",
    }  # fmt: skip


def test_a_draft_preview_shows_what_would_appear_disappear_or_change(demo, client_as):
    import copy

    from reconciliation.models import RuleSet
    from reconciliation.rules import preview
    from reconciliation.rules import services as rule_sets

    run = run_now(start(demo))
    draft = rule_sets.start_draft(RuleSet.objects.get(name="default"), by=None)
    definition = copy.deepcopy(draft.definition)
    definition["types"]["position"]["overrides"] = [
        {"asset": "DOGE", "absolute": "2000", "relative": "0"},
        {"asset": "BTC", "absolute": "0", "relative": "0"},
    ]
    definition["severity_bands"] = ["10", "100", "300"]
    rule_sets.update_draft(draft, definition=definition, by=None)
    outcome = preview.preview(draft, run)
    assert [b["asset"] for b in outcome.appear] == ["BTC"]
    assert [b["asset"] for b in outcome.disappear] == ["DOGE"]
    assert BreakObservation.objects.filter(run=run).count() == run.break_count  # stored nothing
    page = client_as("admin").get(f"/rules/versions/{draft.pk}/", {"preview_run": run.pk})
    assert "would appear" in page.content.decode()


def test_where_did_it_start_is_shown_for_ledgers_on_both_sides(
    client_as, monkeypatch, django_assert_max_num_queries
):
    from reconciliation.datasets.services import ensure_account

    book = ensure_account(source_code="book", account_code="main", kind="internal", by=None)[0]
    kraken = ensure_account(source_code="kraken", account_code="main", kind="exchange",
                            exchange="kraken", by=None)[0]  # fmt: skip
    head = "entry_id,account,asset,amount,fee,type,occurred_at\n"
    rows = [
        "E1,main,BTC,1.5,0,deposit,2026-01-01T00:00:00Z",
        "E2,main,BTC,-0.5,0,withdrawal,2026-01-02T00:00:00Z",
        "E3,main,BTC,0.25,0,trade,2026-01-03T00:00:00Z",
    ]
    book_rows = [rows[0], rows[1].replace("-0.5", "-0.4"), rows[2]]

    def load(account, lines):
        data = (head + "\n".join(lines) + "\n").encode()
        return ingest.import_file(
            source=account.source, account=account, format_code="generic-ledger", data=data,
            filename="l.csv",
        ).dataset  # fmt: skip

    internal, external = load(book, book_rows), load(kraken, rows)
    run = run_now(runs.start_run(type="position", internal=internal, external=external))
    item = Break.objects.get(asset="BTC", last_seen_run=run)
    assert item.internal_value - item.external_value == __import__("decimal").Decimal("0.1")
    client = client_as("risk")

    def no_engine(*args, **kwargs):
        raise AssertionError("a page loaded a run's datasets")

    # Stored by the run: the page neither loads the datasets nor runs the engine, and makes a
    # bounded number of queries.
    monkeypatch.setattr(run_inputs, "load_inputs", no_engine)
    with django_assert_max_num_queries(30):  # 29 today: session, roles, the break, its history
        response = client.get(f"/breaks/{item.pk}/")
    page = response.content.decode()
    assert "Where did it start?" in page and "2026-01-02 00:00:00" in page and "E2" in page
    assert "balances then 1.1 (book) and 1 (exchange)" in page
    assert "started" in item.details  # stored with the break, shown in its own section only
    assert "started" not in [fact.label for fact in response.context["evidence"]]


def test_overview_counts_open_breaks_and_shows_the_latest_run(demo, client_as):
    run = run_now(start(demo))
    page = client_as("finance").get("/").content.decode()
    critical = Break.objects.filter(severity="critical", status="open").count()
    link = '/breaks/?severity=critical&amp;status=open,investigating"'
    assert f'{link} data-count="{critical}">{critical}</a>' in page
    assert f'href="/runs/{run.pk}/"' in page


def test_margin_run_finds_collateral_used_margin_and_open_position_differences(demo):
    run = run_now(start(demo, "margin", "book margin", "kraken margin"))
    assert run.status == "succeeded", run.message
    found = {(b.asset, b.field): b for b in Break.objects.filter(type="margin")}
    assert set(found) == {("BTC", "open_position"), ("USD", "used_margin"), ("EUR", "collateral")}
    assert "sign_flip" in found["BTC", "open_position"].causes
    assert "decimal_shift" in found["USD", "used_margin"].causes
    assert "missing_position" in found["EUR", "collateral"].causes
    used = found["USD", "used_margin"]
    assert used.value_rc == abs(used.difference) and used.severity == "critical"
    assert found["EUR", "collateral"].value_rc == Decimal("5000.0000") * Decimal("1.0840")


def test_trade_breaks_are_valued_in_the_reporting_currency(demo):
    # Prices as of the last trade (the demo's price file is later, and never looked ahead to).
    as_of = demo["kraken trades"].as_of.isoformat().replace("+00:00", "Z")
    prices = ingest.import_file(
        source=demo["prices"].source, account=None, format_code="prices",
        data=demo_data.prices(demo_data._trade_rows(), as_of), filename="prices.csv",
    ).dataset  # fmt: skip
    run = run_now(start({**demo, "prices": prices}, "trades", "book trades", "kraken trades"))
    price = Break.objects.get(type="trades", field="price")
    quantity = TradeRecord.objects.get(
        dataset_id=demo["kraken trades"].pk, trade_id=price.entity
    ).quantity
    rate = Decimal(1) if price.asset == "USD" else demo_data.QUOTE_PRICES_USD[price.asset]
    places = Decimal("1e-18")
    # |price difference| x quantity, in the quote asset, then in USD: each rounded once.
    worth = (abs(price.difference) * quantity).quantize(places)
    assert price.value_rc == (worth * rate).quantize(places)
    assert Break.objects.filter(type="trades", value_rc__isnull=True).count() == 0
    assert run.by_severity == {
        s: Break.objects.filter(type="trades", severity=s).count() for s in run.by_severity
    }


def test_with_no_prices_loaded_amounts_in_the_reporting_currency_are_still_valued(book, kraken):
    def load(account, data):
        return ingest.import_file(
            source=account.source,
            account=account,
            data=data,
            format_code="generic-margin",
            filename="m.csv",
        ).dataset

    as_of = "2026-02-27T10:16:05Z"
    internal = load(book, demo_data.margin(as_of, book=True))
    external = load(kraken, demo_data.margin(as_of, book=False))
    run = run_now(runs.start_run(type="margin", internal=internal, external=external))
    assert run.prices_dataset is None  # none is loaded
    used = Break.objects.get(type="margin", asset="USD")
    assert used.value_rc == abs(used.difference)
    assert Break.objects.get(type="margin", asset="EUR").value_rc is None  # no price: unknown
    assert Break.objects.get(type="margin", asset="EUR").severity == "high"


def test_pnl_run_checks_the_books_realised_pnl_against_the_exchanges_trades(demo):
    run = run_now(start(demo, "pnl", "book pnl", "kraken trades"))
    assert run.status == "succeeded", run.message
    found = {b.entity.split()[0]: b for b in Break.objects.filter(type="pnl")}
    assert set(found) == {"SOL/USD", "BTC/USD", "DOGE/USD"}
    assert "unbooked_fee" in found["SOL/USD"].causes
    assert "pnl_method" in found["BTC/USD"].causes
    assert "missing_position" in found["DOGE/USD"].causes
    for found_break in found.values():
        assert found_break.field == "realised_pnl"
        assert found_break.value_rc == abs(found_break.difference)
