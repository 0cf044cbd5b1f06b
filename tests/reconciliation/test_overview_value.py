"""The overview's value at stake: per type, in the reporting currency, never added up."""

import copy
import re

import pytest

from desk import selectors
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, RuleSet
from reconciliation.rules import services as rule_sets
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


def _run(demo, type_, internal, external, **kw):
    run = runs.start_run(type=type_, internal=demo[internal], external=demo[external],
                         prices=demo["prices"], **kw)  # fmt: skip
    run_execution.execute_run(run.pk)
    return run


def _version_in(currency: str):
    draft = rule_sets.start_draft(RuleSet.objects.get(name="default"), by=None)
    definition = copy.deepcopy(draft.definition)
    definition["reporting_currency"] = currency
    rule_sets.update_draft(draft, definition=definition, by=None)
    return rule_sets.publish(draft, by=None)


def _expected(type_: str):
    live = Break.objects.filter(type=type_, status__in=["open", "investigating"])
    return live.count(), sum(abs(b.value_rc) for b in live if b.value_rc is not None)


def value_at_stake() -> list[dict]:
    """The overview's rows per type and currency."""
    return [
        {"type": g.key, "currency": code, "count": g.count, "value": value,
         "unvalued": g.unvalued}
        for g in selectors.open_breaks().by_type
        for code, value in (g.values.items() or [("?", 0)])
    ]  # fmt: skip


def test_the_eth_decimal_shift_seen_by_position_and_valuation_is_shown_per_type(demo, client_as):
    _run(demo, "position", "book balances", "kraken ledgers")
    _run(demo, "valuation", "book balances", "kraken ledgers")
    assert Break.objects.filter(asset="ETH", type__in=["position", "valuation"]).count() == 2
    rows = {row["type"]: row for row in value_at_stake()}
    assert set(rows) == {"position", "valuation"}
    for type_, row in rows.items():
        count, value = _expected(type_)
        assert (row["count"], row["value"], row["currency"]) == (count, value, "USD")
    page = client_as("finance").get("/").content.decode()
    card = page[page.index("Value at stake") : page.index("Latest runs")]
    shown = re.sub(r"<[^>]+>", "", card)  # a rounded figure sits in a span with its exact title
    for row in rows.values():
        assert f"{row['value']:,.2f} USD" in shown
    total = sum(row["value"] for row in rows.values())
    assert f"{total:,.2f}" not in shown  # the two types are not added up


def test_values_in_different_reporting_currencies_are_never_added(demo, client_as):
    _run(demo, "position", "book balances", "kraken ledgers")
    _run(demo, "margin", "book margin", "kraken margin", rule_set_version=_version_in("EUR"))
    rows = {(row["type"], row["currency"]) for row in value_at_stake()}
    assert rows == {("position", "USD"), ("margin", "EUR")}
    card = re.sub(r"<[^>]+>", "", client_as("finance").get("/").content.decode())
    assert re.search(r"[\d,.]+ EUR", card) and re.search(r"[\d,.]+ USD", card)


def test_unvalued_breaks_are_counted_apart(demo):
    _run(demo, "position", "book balances", "kraken ledgers")
    Break.objects.filter(asset="ETH").update(value_rc=None)
    (row,) = value_at_stake()
    assert row["unvalued"] == 1
    assert row["value"] == _expected("position")[1]
