"""Pages show amounts to their asset's precision, never hiding a difference (docs/decisions.md)."""

from decimal import Decimal

import pytest

from reconciliation.importers.assets import display_places
from reconciliation.templatetags.money import amount, money


@pytest.mark.parametrize(
    ("asset", "places"),
    [("USD", 2), ("EUR", 2), ("usd", 2), ("BTC", 8), ("ETH", 8), ("DOT.S", 8), ("USDC.M", 8)],
)
def test_fiat_shows_cents_and_every_other_asset_eight_places(asset, places):
    assert display_places(asset) == places


@pytest.mark.parametrize(
    ("value", "asset", "shown"),
    [
        ("0.0497", "BTC", "0.0497"),
        ("1.000000000000000000", "ETH", "1"),
        ("25000", "USD", "25000.00"),
        ("-0.00001", "USD", "-0.00001"),  # would round to nothing: shown in full
        ("0.000000000000000001", "ETH", "0.000000000000000001"),
    ],
)
def test_an_amount_that_needs_no_rounding_is_shown_as_it_is(value, asset, shown):
    assert amount(Decimal(value), asset) == shown


@pytest.mark.parametrize(
    ("value", "asset", "shown"),
    [
        ("487.229322380000000001", "ETH", "487.22932238"),
        ("2140890.5148309438", "ETH", "2140890.51483094"),
        ("7.99985", "USD", "8.00"),
        ("-382.9234680737", "SOL.S", "-382.92346807"),
    ],
)
def test_a_rounded_amount_is_marked_and_carries_its_exact_value(value, asset, shown):
    html = amount(Decimal(value), asset)
    assert html == f'<span class="rounded" title="{value}">≈{shown}</span>'


def test_money_rounds_to_cents_with_separators_and_keeps_the_exact_value():
    assert money(Decimal("1926801.46334784942")) == (
        '<span class="rounded" title="1926801.46334784942">≈1,926,801.46</span>'
    )
    assert money(Decimal("8")) == "8.00"
    assert money(None) == "—" and amount(None, "BTC") == "—"
