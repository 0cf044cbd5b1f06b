"""Properties of trade matching over generated trade sets (hypothesis)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.engine.trades import match_trades
from reconciliation.engine.types import Override, Tolerance, ToleranceRules
from tests.engine.trade_rows import T0, fill, trades

RULES = ToleranceRules(
    Tolerance(), (Override(Tolerance(relative=Decimal("0.001")), field="price"),)
)
PAIRS = [("BTC/USD", "BTC", "USD"), ("ETH/BTC", "ETH", "BTC")]
QUANTITIES = st.decimals(Decimal("1e-18"), Decimal("100000"), places=18)
PRICES = st.decimals(Decimal("0.0001"), Decimal("100000"), places=8)
FEES = st.decimals(Decimal(0), Decimal("10"), places=8)
SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def trade_rows(draw, min_size: int = 1, max_size: int = 20) -> list[dict]:
    """Trades with unique ids T0..Tn, spread over ten minutes, two accounts and two pairs."""
    rows = []
    for k in range(draw(st.integers(min_size, max_size))):
        pair, base, quote = draw(st.sampled_from(PAIRS))
        rows.append(fill(
            f"T{k}", account=draw(st.sampled_from(["main", "hedge"])), pair=pair, base=base,
            quote=quote, side=draw(st.sampled_from(["buy", "sell"])),
            quantity=draw(QUANTITIES), price=draw(PRICES), fee=draw(FEES),
            order_id=draw(st.sampled_from([None, "O1", "O2"])),
            executed_at=T0 + timedelta(microseconds=draw(st.integers(0, 600_000_000))),
        ))  # fmt: skip
    return rows


def as_sets(result) -> tuple[set, set]:
    """Matches and breaks as sets of plain tuples (lists made tuples), independent of row order."""

    def rows(frame: pl.DataFrame) -> set:
        return {tuple(tuple(v) if isinstance(v, list) else v for v in r) for r in frame.rows()}

    return rows(result.matches), rows(result.breaks)


@st.composite
def book_and_exchange(draw) -> tuple[list[dict], list[dict]]:
    """An exchange trade set and a book that matches it by id, by window, or not at all."""
    external = draw(trade_rows())
    internal = []
    for k, trade in enumerate(external):
        fate = draw(st.sampled_from(["id", "window", "price", "missing", "extra"]))
        if fate == "missing":
            continue
        fill_ = {**trade, "trade_id": f"I{k}", "exchange_trade_id": trade["trade_id"]}
        if fate == "window":
            shift = timedelta(microseconds=draw(st.integers(-5_000_000, 5_000_000)))
            fill_ |= {"exchange_trade_id": None, "executed_at": trade["executed_at"] + shift}
        elif fate == "price":
            fill_["price"] = trade["price"] * 2
        elif fate == "extra":
            fill_ |= {"exchange_trade_id": None, "quantity": trade["quantity"] + 1}
        internal.append(fill_)
    return internal, external


@SETTINGS
@given(trade_rows())
def test_a_trade_set_matched_against_itself_is_all_id_matches_and_no_breaks(rows):
    result = match_trades(trades(*rows), trades(*rows), RULES)
    assert result.breaks.is_empty()
    assert set(result.matches["rule"]) == {"id"}
    assert sorted(result.matches["internal_ids"].list.first()) == sorted(
        r["trade_id"] for r in rows
    )


@SETTINGS
@given(book_and_exchange(), st.randoms(use_true_random=False))
def test_shuffling_rows_changes_nothing(sides, rng: random.Random):
    internal, external = sides
    before = as_sets(match_trades(trades(*internal), trades(*external), RULES))
    rng.shuffle(internal)
    rng.shuffle(external)
    after = as_sets(match_trades(trades(*internal), trades(*external), RULES))
    assert after == before


@SETTINGS
@given(trade_rows(), st.data())
def test_one_price_difference_beyond_tolerance_gives_exactly_one_price_break(rows, data):
    k = data.draw(st.integers(0, len(rows) - 1))
    internal = [dict(r) for r in rows]
    internal[k]["price"] = rows[k]["price"] * Decimal("1.002")  # beyond the 0.1 % tolerance
    result = match_trades(trades(*internal), trades(*rows), RULES)
    assert result.breaks["break_key"].to_list() == [f"trades|{rows[k]['account']}|T{k}|price"]
    assert result.breaks["difference"][0] == internal[k]["price"] - rows[k]["price"]


@SETTINGS
@given(trade_rows(), st.data())
def test_quantities_with_18_places_stay_exact(rows, data):
    k = data.draw(st.integers(0, len(rows) - 1))
    internal = [dict(r) for r in rows]
    internal[k]["quantity"] = rows[k]["quantity"] + Decimal("1e-18")
    result = match_trades(trades(*internal), trades(*rows), RULES)
    by_id = {i[0]: q for i, q in result.matches.select("internal_ids", "internal_quantity").rows()}
    assert by_id == {r["trade_id"]: r["quantity"] for r in internal}
    assert result.breaks.select("field", "difference").rows() == [("quantity", Decimal("1e-18"))]


@SETTINGS
@given(QUANTITIES.filter(lambda q: q > Decimal("1e-6")), PRICES,
       st.lists(st.integers(1, 1000), min_size=2, max_size=5))  # fmt: skip
def test_a_fill_split_into_pieces_at_one_price_is_matched_one_to_many(quantity, price, weights):
    pieces = [(quantity * w / sum(weights)).quantize(Decimal("1e-18")) for w in weights[:-1]]
    pieces.append(quantity - sum(pieces))
    external = [fill(f"K{j}", at=j * 0.1, quantity=q, price=price) for j, q in enumerate(pieces)]
    result = match_trades(trades(fill("i1", quantity=quantity, price=price)), trades(*external),
                          RULES)  # fmt: skip
    assert result.matches["rule"].to_list() == ["split:one-to-many"]
    assert result.matches["external_quantity"].to_list() == [quantity]


@SETTINGS
@given(trade_rows(), st.data())
def test_splitting_a_book_fill_into_pieces_carrying_its_exchange_id_creates_no_break(rows, data):
    k = data.draw(st.integers(0, len(rows) - 1))
    whole = rows[k]
    n = data.draw(st.integers(2, 4))
    quantity, fee = (int(whole[c].scaleb(18)) for c in ("quantity", "fee"))
    if quantity < n:  # every piece has a quantity
        whole = rows[k] = {**whole, "quantity": Decimal(n)}
        quantity = n * 10**18
    cuts = data.draw(st.lists(st.integers(1, quantity - 1), min_size=n - 1, max_size=n - 1,
                              unique=True))  # fmt: skip
    fee_cuts = data.draw(st.lists(st.integers(0, fee), min_size=n - 1, max_size=n - 1))
    q_edges, f_edges = [0, *sorted(cuts), quantity], [0, *sorted(fee_cuts), fee]
    pieces = [
        {**whole, "trade_id": f"T{k}.{j}", "exchange_trade_id": whole["trade_id"],
         "quantity": Decimal(q_edges[j + 1] - q_edges[j]).scaleb(-18),
         "fee": Decimal(f_edges[j + 1] - f_edges[j]).scaleb(-18),
         "executed_at": whole["executed_at"] + timedelta(milliseconds=j)}
        for j in range(n)
    ]  # fmt: skip
    assert sum(p["quantity"] for p in pieces) == whole["quantity"]
    internal = [r for j, r in enumerate(rows) if j != k] + pieces
    result = match_trades(trades(*internal), trades(*rows), RULES)
    assert result.breaks.is_empty()
    groups = result.matches.filter(pl.col("rule") == "id:many-to-one")
    assert groups["internal_ids"].to_list() == [[p["trade_id"] for p in pieces]]
