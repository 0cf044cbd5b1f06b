"""Realised PnL reconciliation ("pnl"): PnL computed from the exchange's trades vs the book's.

The book states a realised PnL per (account, traded asset, currency, [period_start, period_end));
rows with the same key are summed. The exchange side is computed here from its trades:

- Lots are kept per (account, base, quote); a book row of asset A in currency C takes the trades
  whose base is A and quote is C. Trades are processed in (executed_at, trade_id) order (then
  side, quantity, price, fee, fee_asset), so the input row order never matters.
- A trade's notional quantity x price is rounded half-even to 18 places (the first rounding point;
  everything after works on exact 18-place amounts, as integer units of 1e-18).
- A buy adds a lot: its quantity and cost = notional + fee when the fee asset is the quote. A fee
  in any other asset (or in no stated asset) is not part of realised PnL; such trades with a
  non-zero fee are counted as `fees_elsewhere`.
- A sell realises proceeds = notional - fee (fee in the quote only) minus the cost basis of the
  quantity sold. FIFO consumes the oldest lots first; a partly consumed lot's part costs
  lot_cost x part / lot_quantity rounded half-even, and the lot keeps exactly the remainder of
  quantity and cost, so nothing drifts. Average cost takes total_cost x q / total_quantity
  rounded half-even and total_cost decreases by exactly that (a sell that empties the position
  takes the whole cost).
- Positions never go short: a sell beyond the inventory (history missing before the export
  starts) has an uncovered quantity with no known cost basis. Only the covered share of its
  proceeds, proceeds x covered / q rounded half-even, is realised; the uncovered quantity is
  reported and a break carries the cause `missing_cost_basis`. A later buy opens a new lot.
- Every trade before period_end builds the inventory; a sell counts towards a period when
  period_start <= executed_at < period_end. Periods may overlap.

Each book key is compared with the computed figure (zero when there are no trades). An (account,
asset, currency) with exchange sells inside a period the book has for that account, but no book
row for it in that period, is compared with a null internal value (cause `missing_position`), so
unbooked PnL is found. A difference beyond max(absolute, relative x |computed|) of the
"realised_pnl" tolerance of (account, asset) is a break, worth |difference| of the currency
(types.EXPOSURE: value_asset = currency), so a BTC PnL break in USD is priced in USD.

Causes, most likely first: missing_position (no book row); sign_flip and decimal_shift (the book
is the computed value negated or times a power of ten); pnl_method (the book equals exactly what
the other method gives, which is the evidence); unbooked_fee (the book is higher by exactly the
quote fees of the period's sells: those are deducted from the period's proceeds in full whatever
the inventory, while buy fees reach PnL only through the cost of what was sold); then
missing_cost_basis (the computed figure is incomplete); rounding (below the coarser side's last
place).

Trades are walked once in plain Python on integers (units of 1e-18), which is exact like Decimal
and faster; the per-period sums are cumulative sums and as-of joins in polars.
"""

from __future__ import annotations

from collections import deque

import polars as pl

from reconciliation.engine.causes import DECIMAL_SHIFT, MISSING_POSITION, SIGN_FLIP, UNBOOKED_FEE
from reconciliation.engine.tolerance import (
    LIMIT,
    SCALE,
    raw,
    rule_details,
    to_decimal,
    with_tolerance,
    within_tolerance,
)
from reconciliation.engine.trade_breaks import (
    ROUNDING,
    breaks_frame,
    i128,
    json_details,
    prepare,
    value_causes,
)
from reconciliation.engine.types import PNL, TRADES, ToleranceRules, empty_breaks

MISSING_COST_BASIS = "missing_cost_basis"
PNL_METHOD = "pnl_method"
METHODS = ("fifo", "average")
TYPE, FIELD = "pnl", "realised_pnl"
LOTS = ["account", "base", "quote"]
BOOK_LOTS = ["account", "asset", "currency"]
PERIOD = [*BOOK_LOTS, "period_start", "period_end"]
EVIDENCE_IDS = 20  # trade ids listed in a cause's evidence (the count is always complete)

# Per-trade amounts summed per period: counts, then raw units of 1e-18.
_SUMS = {
    "buys": ~pl.col("sell"),
    "sells": pl.col("sell"),
    "fees_elsewhere": pl.col("elsewhere"),
    "realised_raw": pl.col("realised_raw"),
    "uncovered_raw": pl.col("uncovered_raw"),
    "fees_raw": pl.col("fee_raw"),
    "sell_fees_raw": pl.when(pl.col("sell")).then(pl.col("fee_raw")).otherwise(i128(0)),
}
_COUNTS = ("buys", "sells", "fees_elsewhere")


# --- Public API -----------------------------------------------------------------------------------


def realised_pnl(trades: pl.DataFrame, periods: pl.DataFrame, method: str) -> pl.DataFrame:
    """Per (account, asset, currency, period_start, period_end) of `periods`: the computed PnL.

    Columns: the key, realised_pnl, buys, sells, fees_in_quote (all the period's trades),
    sell_fees_in_quote, fees_elsewhere (trades with a fee in another asset), uncovered_quantity.
    """
    _check_method(method)
    wanted = _periods(periods)
    typed = _typed(trades, _until(wanted, BOOK_LOTS))
    figures = _figures(_walk(typed, method), wanted)
    return figures.select(
        *PERIOD,
        to_decimal(pl.col("realised_raw")).alias("realised_pnl"),
        *_COUNTS,
        to_decimal(pl.col("fees_raw")).alias("fees_in_quote"),
        to_decimal(pl.col("sell_fees_raw")).alias("sell_fees_in_quote"),
        to_decimal(pl.col("uncovered_raw")).alias("uncovered_quantity"),
    ).sort(PERIOD)


def reconcile_pnl(
    book: pl.DataFrame, trades: pl.DataFrame, rules: ToleranceRules, *, method: str
) -> pl.DataFrame:
    """PnL breaks (BREAKS + EXPOSURE: worth |difference| of the currency), by break_key."""
    _check_method(method)
    booked = _book(book)
    if booked.is_empty():
        return empty_breaks(exposure=True)
    # Every pair the book's accounts traded may be unbooked, so all their trades are walked.
    typed = _typed(trades, _until(booked, ["account"]))
    walked = _walk(typed, method)
    figures = _figures(walked, _periods_to_check(booked, typed))
    compared = figures.join(booked, on=PERIOD, how="left").filter(
        pl.col("int_raw").is_not_null() | (pl.col("sells") > 0)
    )
    found = _beyond_tolerance(compared, rules)
    if found.is_empty():
        return empty_breaks(exposure=True)
    found = _with_other_method(found, typed, method)
    found = _with_evidence_trades(found, walked)
    return _breaks(found, method).sort("break_key")


# --- Inputs ---------------------------------------------------------------------------------------


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"pnl method must be one of {', '.join(METHODS)}, not {method!r}")


def _periods(periods: pl.DataFrame) -> pl.DataFrame:
    """The distinct period keys, typed, checked (times are UTC, start <= end)."""
    frame = periods.select(pl.col(c).cast(PNL[c]) for c in PERIOD).unique()
    if frame.null_count().sum_horizontal().item():
        raise ValueError("pnl periods need account, asset, currency, period_start and period_end")
    if frame.filter(pl.col("period_start") > pl.col("period_end")).height:
        raise ValueError("a pnl period ends before it starts")
    return frame


def _book(book: pl.DataFrame) -> pl.DataFrame:
    """The book's figures summed per period key, as raw units `int_raw`."""
    if book.width == 0:
        return pl.DataFrame(schema={**{c: PNL[c] for c in PERIOD}, "int_raw": pl.Int128})
    _periods(book)  # the same checks as any periods
    typed = book.select(*(pl.col(c).cast(PNL[c]) for c in PERIOD), raw(FIELD).alias("int_raw"))
    if typed["int_raw"].null_count():
        raise ValueError("book realised_pnl may not be empty")
    return typed.group_by(PERIOD).agg(pl.col("int_raw").sum())


def _until(periods: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per `by` key, the latest period end: later trades change nothing that is asked for."""
    names = {"asset": "base", "currency": "quote"}
    return (
        periods.group_by(by)
        .agg(pl.col("period_end").max().alias("_until"))
        .rename({k: v for k, v in names.items() if k in by})
    )


def _typed(trades: pl.DataFrame, until: pl.DataFrame) -> pl.DataFrame:
    """The trades that can matter (before `until` of their key), checked, in walking order, with
    `lot` (a number per (account, base, quote)), sell, q_raw, p_raw, fee_raw (in the quote only)
    and elsewhere (a fee in another asset)."""
    if trades.width == 0:
        trades = pl.DataFrame(schema=TRADES)
    frame = prepare(trades)
    # One join of the few distinct lots: a number each (sorting on it is several times faster
    # than on three strings) and the time from which their trades no longer matter.
    lots = frame.select(LOTS).unique().with_row_index("lot")
    lots = lots.join(until, on=[c for c in until.columns if c != "_until"])
    frame = frame.join(lots, on=LOTS).filter(pl.col("executed_at") < pl.col("_until"))
    sells = _check_trades(frame)
    in_quote = (pl.col("fee_asset") == pl.col("quote")).fill_null(False)
    frame = frame.with_columns(
        sell=pl.col("side").is_in(sells),
        q_raw=raw("quantity"),
        p_raw=raw("price"),
        fee_raw=pl.when(in_quote).then(raw("fee")).otherwise(i128(0)),
        elsewhere=~in_quote & (raw("fee") != i128(0)),
    )
    return _in_walking_order(frame)


def _in_walking_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Sorted by lot, executed_at and trade_id; rows equal in all three (rare) by every field,
    so that the input row order never matters."""
    order = ["lot", "executed_at", "trade_id"]
    frame = frame.sort(order)
    tied = pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).shift(1)) for c in order)
    if frame.select(tied.any()).item():
        order += ["sell", "q_raw", "p_raw", "fee_raw", "fee_asset"]
        frame = frame.sort(order, nulls_last=True)
    return frame


def _check_trades(frame: pl.DataFrame) -> list[str]:
    """Refuse what cannot be walked; the spellings of "sell" used (any case)."""
    needed = ["account", "base", "quote", "side", "quantity", "price", "executed_at"]
    missing = [c for c in needed if frame[c].null_count()]
    if missing:
        raise ValueError(f"trades without {', '.join(missing)}")
    sides = frame["side"].unique().to_list()
    wrong = sorted(s for s in sides if s.lower() not in ("buy", "sell"))
    if wrong:
        raise ValueError(f"trade side must be buy or sell, not {wrong}")
    if frame.filter(raw("quantity") < i128(0)).height:
        raise ValueError("trade quantities must not be negative (the side gives the direction)")
    return [s for s in sides if s.lower() == "sell"]


def _periods_to_check(booked: pl.DataFrame, typed: pl.DataFrame) -> pl.DataFrame:
    """The book's keys, plus every period of an account for each pair the account sold."""
    sold = typed.filter(pl.col("sell")).select(*LOTS).unique()
    sold = sold.rename({"base": "asset", "quote": "currency"})
    spans = booked.select("account", "period_start", "period_end").unique()
    candidates = sold.join(spans, on="account").select(PERIOD)
    return pl.concat([booked.select(PERIOD), candidates]).unique()


# --- The walk through the trades: per-trade realised PnL, exact ----------------------------------


def _half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half-even to an integer."""
    quotient, remainder = divmod(numerator, denominator)  # floor: 0 <= remainder < denominator
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient & 1):
        quotient += 1
    return quotient


def _covered_share(proceeds: int, covered: int, quantity: int) -> int:
    """The proceeds of the covered part of a sell (all of them when it is fully covered)."""
    return proceeds if covered == quantity else _half_even(proceeds * covered, quantity)


def _fifo(lengths, sells, quantities, amounts) -> tuple[list[int], list[int]]:
    """Per trade: realised PnL (0 for buys) and the quantity sold beyond the inventory.

    `lengths` are the lots' numbers of trades (in walking order); `amounts` see `_amounts`.
    """
    realised, uncovered = [0] * len(sells), [0] * len(sells)
    end = 0
    for length in lengths:
        start, end = end, end + length
        lots: deque[list[int]] = deque()  # [quantity, cost], oldest first
        for i in range(start, end):
            quantity = quantities[i]
            if not sells[i]:
                lots.append([quantity, amounts[i]])
                continue
            need, basis = quantity, 0
            while need and lots:
                lot = lots[0]
                if lot[0] <= need:
                    need -= lot[0]
                    basis += lot[1]
                    lots.popleft()
                else:
                    part = _half_even(lot[1] * need, lot[0])
                    lot[0] -= need
                    lot[1] -= part
                    basis += part
                    need = 0
            realised[i] = _covered_share(amounts[i], quantity - need, quantity) - basis
            uncovered[i] = need
    return realised, uncovered


def _average(lengths, sells, quantities, amounts) -> tuple[list[int], list[int]]:
    """As `_fifo`, at the position's average cost."""
    realised, uncovered = [0] * len(sells), [0] * len(sells)
    end = 0
    for length in lengths:
        start, end = end, end + length
        held = cost = 0
        for i in range(start, end):
            quantity = quantities[i]
            if not sells[i]:
                held += quantity
                cost += amounts[i]
                continue
            covered = quantity if quantity < held else held
            if quantity == 0:
                basis = 0
            elif covered == held:
                # Emptying the position takes all its cost (as FIFO consumes every lot).
                basis = cost
            else:
                basis = _half_even(cost * covered, held)
            held -= covered
            cost -= basis
            realised[i] = _covered_share(amounts[i], covered, quantity) - basis
            uncovered[i] = quantity - covered
    return realised, uncovered


def _amounts(sells, quantities, prices, fees) -> list[int]:
    """Per trade, raw: a buy's cost (notional + fee) or a sell's proceeds (notional - fee), the
    notional quantity x price rounded half-even to 18 places (the first rounding point)."""
    amounts = []
    half = SCALE // 2
    for sell, quantity, price, fee in zip(sells, quantities, prices, fees, strict=True):
        notional, rest = divmod(quantity * price, SCALE)
        if rest > half or (rest == half and notional & 1):
            notional += 1
        if not -LIMIT <= notional <= LIMIT:
            raise ValueError("a trade's quantity x price is beyond Decimal(38, 18)")
        amounts.append(notional - fee if sell else notional + fee)
    return amounts


def _walk(typed: pl.DataFrame, method: str) -> pl.DataFrame:
    """`typed` (in walking order) with realised_raw and uncovered_raw per trade."""
    lengths = typed["lot"].rle().struct.field("len").to_list()
    sells, quantities, prices, fees = (
        typed[c].to_list() for c in ("sell", "q_raw", "p_raw", "fee_raw")
    )
    walk = _fifo if method == "fifo" else _average
    realised, uncovered = walk(
        lengths, sells, quantities, _amounts(sells, quantities, prices, fees)
    )
    return typed.with_columns(
        realised_raw=pl.Series(realised, dtype=pl.Int128),
        uncovered_raw=pl.Series(uncovered, dtype=pl.Int128),
    )


# --- Per-period figures ---------------------------------------------------------------------------


def _figures(walked: pl.DataFrame, periods: pl.DataFrame) -> pl.DataFrame:
    """Per period: each sum of _SUMS over the lot's trades with start <= executed_at < end.

    Running totals per lot, read just before each end and each start (as-of joins that exclude
    the instant itself); the difference is the period's. Overlapping periods cost nothing extra.
    """
    totals = [
        e.cast(pl.Int64 if n in _COUNTS else pl.Int128).cum_sum().over("lot").alias(n)
        for n, e in _SUMS.items()
    ]
    # One row per instant, its last running total (the rows are in walking order), so the
    # as-of join has no ties.
    lot, at = pl.col("lot"), pl.col("executed_at")
    last = ((lot != lot.shift(-1)) | (at != at.shift(-1))).fill_null(True)
    running = walked.select(*LOTS, "lot", "executed_at", *totals).filter(last).sort("executed_at")
    at_end, at_start = (_running_before(periods, running, edge) for edge in ("end", "start"))
    return at_end.join(at_start, on=PERIOD, suffix="_start").select(
        *PERIOD, *((pl.col(n) - pl.col(f"{n}_start")).alias(n) for n in _SUMS)
    )


def _running_before(periods: pl.DataFrame, running: pl.DataFrame, edge: str) -> pl.DataFrame:
    """Per period, the lot's running totals over the trades before period_{edge}."""
    joined = periods.sort(f"period_{edge}").join_asof(
        running,
        left_on=f"period_{edge}",
        right_on="executed_at",
        by_left=BOOK_LOTS,
        by_right=LOTS,
        strategy="backward",
        allow_exact_matches=False,
        # Sorted by time overall, hence within each lot; polars cannot check that per group.
        check_sortedness=False,
    )
    return joined.select(*PERIOD, *(pl.col(n).fill_null(0) for n in _SUMS))


# --- Breaks ---------------------------------------------------------------------------------------


def _beyond_tolerance(compared: pl.DataFrame, rules: ToleranceRules) -> pl.DataFrame:
    """The compared keys whose difference exceeds the (account, asset) tolerance."""
    compared = compared.rename({"realised_raw": "ext_raw"}).with_columns(
        diff_raw=pl.col("int_raw").fill_null(i128(0)) - pl.col("ext_raw")
    )
    candidates = with_tolerance(compared.filter(pl.col("diff_raw") != i128(0)), rules, FIELD)
    inside = within_tolerance(
        pl.col("diff_raw"), pl.col("ext_raw"), pl.col("abs_raw"), pl.col("rel_raw")
    )
    return candidates.filter(~inside)


def _with_other_method(found: pl.DataFrame, typed: pl.DataFrame, method: str) -> pl.DataFrame:
    """`other_raw`: the figure the other method gives, walked only for the breaks' lots."""
    other = METHODS[1 - METHODS.index(method)]
    lots = found.select(BOOK_LOTS).unique().rename({"asset": "base", "currency": "quote"})
    subset = typed.join(lots, on=LOTS, how="semi", maintain_order="left")
    figures = _figures(_walk(subset, other), found.select(PERIOD))
    return found.join(
        figures.select(*PERIOD, pl.col("realised_raw").alias("other_raw")),
        on=PERIOD,
        how="left",
        maintain_order="left",
    )


def _with_evidence_trades(found: pl.DataFrame, walked: pl.DataFrame) -> pl.DataFrame:
    """The ids (first EVIDENCE_IDS by time) and count of each break's sells with a quote fee
    (fee_ids, fee_trades) and of those sold beyond the inventory (uncovered_ids/_trades)."""
    periods = found.select(PERIOD).rename({"asset": "base", "currency": "quote"})
    inside = (
        walked.filter(pl.col("sell"))
        .join(periods, on=LOTS)
        .filter(pl.col("executed_at").is_between("period_start", "period_end", closed="left"))
        .sort("executed_at", "trade_id")
    )
    evidence = inside.group_by([*LOTS, "period_start", "period_end"]).agg(
        *_ids_where(pl.col("fee_raw") != i128(0), "fee"),
        *_ids_where(pl.col("uncovered_raw") > i128(0), "uncovered"),
    )
    evidence = evidence.rename({"base": "asset", "quote": "currency"})
    return found.join(evidence, on=PERIOD, how="left", maintain_order="left")


def _ids_where(condition: pl.Expr, name: str) -> list[pl.Expr]:
    ids = pl.col("trade_id").filter(condition)
    return [ids.head(EVIDENCE_IDS).alias(f"{name}_ids"), ids.len().alias(f"{name}_trades")]


def _causes(method: str) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(cause, condition, evidence as a JSON object string), most likely first."""
    i, e, d = pl.col("int_raw"), pl.col("ext_raw"), pl.col("diff_raw")
    sign_flip, decimal_shift, rounding = value_causes(i, e)
    digits = [x.abs().cast(pl.String).str.len_chars() for x in (i, e)]
    sell_fees = pl.col("sell_fees_raw")
    other = METHODS[1 - METHODS.index(method)]
    return [
        (MISSING_POSITION, i.is_null(), pl.lit('{"missing_side":"internal"}')),
        (SIGN_FLIP, sign_flip.is_not_null(), pl.lit("{}")),
        # The significant digits are equal, so the lengths differ by the power of ten.
        (DECIMAL_SHIFT, decimal_shift.is_not_null(),
         json_details(power=digits[0] - digits[1])),
        (PNL_METHOD, i == pl.col("other_raw"),
         json_details(method=pl.lit(other), realised_pnl=_text(pl.col("other_raw")))),
        (UNBOOKED_FEE, i.is_not_null() & (sell_fees != i128(0)) & (d == sell_fees),
         json_details(amount=_text(sell_fees), trade_ids=pl.col("fee_ids"),
                      trades=pl.col("fee_trades"))),
        (MISSING_COST_BASIS, pl.col("uncovered_raw") > i128(0),
         json_details(trade_ids=pl.col("uncovered_ids"), trades=pl.col("uncovered_trades"),
                      uncovered_quantity=_text(pl.col("uncovered_raw")))),
        (ROUNDING, rounding.is_not_null(), pl.lit("{}")),
    ]  # fmt: skip


def _text(raw_units: pl.Expr) -> pl.Expr:
    return to_decimal(raw_units).cast(pl.String)


def _iso(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")


def _breaks(found: pl.DataFrame, method: str) -> pl.DataFrame:
    causes = _causes(method)
    named = [pl.when(c.fill_null(False)).then(pl.lit(name)) for name, c, _ in causes]
    evidence = _object({name: (c.fill_null(False), ev) for name, c, ev in causes})
    times = [_iso("period_start"), _iso("period_end")]
    key = pl.concat_str(
        pl.lit(TYPE), "account", "asset", "currency", *times, pl.lit(FIELD), separator="|"
    )
    dates = [pl.col(c).dt.strftime("%Y-%m-%d") for c in ("period_start", "period_end")]
    entity = pl.concat_str(
        "asset", pl.lit("/"), "currency", pl.lit(" "), dates[0], pl.lit(".."), dates[1]
    )
    return breaks_frame(
        found, type_=TYPE, field=FIELD, key=key, asset=pl.col("asset"), entity=entity,
        internal=to_decimal(pl.col("int_raw")), external=to_decimal(pl.col("ext_raw")),
        difference=pl.col("diff_raw"), percent_of=pl.col("ext_raw"), causes=named,
        suggested=to_decimal(pl.col("ext_raw")), details=_details(method, evidence),
        value_asset=pl.col("currency"),
    )  # fmt: skip


def _details(method: str, evidence: pl.Expr) -> pl.Expr:
    """The break's figures, the tolerance used and each cause's evidence (sorted keys)."""
    values = {
        "buys": pl.col("buys"),
        "currency": pl.col("currency"),
        "fees_elsewhere": pl.col("fees_elsewhere"),
        "fees_in_quote": _text(pl.col("fees_raw")),
        "method": pl.lit(method),
        "period_end": _iso("period_end"),
        "period_start": _iso("period_start"),
        "sell_fees_in_quote": _text(pl.col("sell_fees_raw")),
        "sells": pl.col("sells"),
        "uncovered_quantity": _text(pl.col("uncovered_raw")),
    }
    objects = {"causes": evidence, "tolerance": rule_details(pl.col("abs_raw"), pl.col("rel_raw"))}
    members = {name: (pl.lit(True), _json(value)) for name, value in values.items()}
    members |= {name: (pl.lit(True), value) for name, value in objects.items()}
    return _object(members)


def _object(members: dict[str, tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    """A JSON object of the members (name: (present, JSON text)) present, keys sorted."""
    pairs = [
        pl.when(present).then(pl.concat_str(pl.lit(f'"{name}":'), text))
        for name, (present, text) in sorted(members.items())
    ]
    return pl.concat_str(
        pl.lit("{"), pl.concat_list(pairs).list.drop_nulls().list.join(","), pl.lit("}")
    )


def _json(value: pl.Expr) -> pl.Expr:
    """One value as JSON text (strings quoted and escaped), via polars' own encoder."""
    encoded = pl.struct(value.alias("v")).struct.json_encode()  # {"v":...}
    return encoded.str.slice(5).str.strip_suffix("}")
