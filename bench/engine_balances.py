"""`python bench/engine_balances.py [--rows N]`: balance reconciliation, engine vs baselines.

Generates N balance rows per side (18-place quantities, per-asset tolerances) with known injected
differences, then times on the same data: `reconcile_balances` (median of 3), a naive per-row
`Decimal` loop, and datacompy's polars and pandas paths (median of 3 each). Prints a headline
(the engine's ratio to datacompy's float64 path, same run), then one JSON line, and checks that
the engine found exactly the injected breaks (no Django needed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciliation.engine.balances import reconcile_balances
from reconciliation.engine.tolerance import to_decimal
from reconciliation.engine.types import Override, Tolerance, ToleranceRules

ASSETS = 1000
TOLERANT_ASSETS = 10  # A0000..A0009 have a tolerance; every other asset must match exactly
TOLERANCE = Tolerance(absolute=Decimal("0.0001"), relative=Decimal("0.000000000001"))
RULES = ToleranceRules(
    Tolerance(),
    tuple(Override(TOLERANCE, asset=f"A{i:04d}") for i in range(TOLERANT_ASSETS)),
)


def _keys(rows: int) -> pl.DataFrame:
    index = pl.int_range(rows, eager=True)
    return pl.DataFrame({"i": index}).select(
        pl.format("acct{}", (pl.col("i") // ASSETS).cast(pl.String).str.zfill(5)).alias("account"),
        pl.format("A{}", (pl.col("i") % ASSETS).cast(pl.String).str.zfill(4)).alias("asset"),
        pl.col("i"),
    )


def generate(rows: int, seed: int = 11) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Both sides and the injected truth {break_key: difference}."""
    rng = np.random.default_rng(seed)
    units = pl.Series(rng.integers(0, 10**8, rows, dtype=np.int64))
    places = pl.Series(rng.integers(0, 10**18, rows, dtype=np.int64))
    frame = _keys(rows).with_columns(
        (pl.lit(units).cast(pl.Int128) * 10**18 + pl.lit(places).cast(pl.Int128)).alias("raw")
    )
    # Every 997th row, and some rows of the tolerant assets, differ: by 1e-18 (a break where no
    # tolerance applies), by half the tolerance (none) or ten times it (a break); every 4999th
    # external row is missing.
    kind = rng.integers(0, 3, rows)
    step = np.where(kind == 0, 1, np.where(kind == 1, 5 * 10**13, 10**15))
    sign = np.where(rng.integers(0, 2, rows) == 0, 1, -1)
    index = np.arange(rows)
    tolerant = (index % ASSETS < TOLERANT_ASSETS) & (index // ASSETS % 97 == 5)
    delta = np.where((index % 997 == 7) | tolerant, step * sign, 0)
    frame = frame.with_columns(
        (pl.col("raw") + pl.lit(pl.Series(delta)).cast(pl.Int128)).alias("ext_raw")
    )
    missing = pl.col("i") % 4999 == 11
    internal = frame.select("account", "asset", to_decimal(pl.col("raw")).alias("quantity"))
    external = (
        frame.filter(~missing)
        .select("account", "asset", to_decimal(pl.col("ext_raw")).alias("quantity"))
        .sample(fraction=1, shuffle=True, seed=seed)
    )
    touched = frame.filter(missing | (pl.col("raw") != pl.col("ext_raw"))).with_columns(
        to_decimal(pl.col("raw")).alias("ours"),
        pl.when(~missing).then(to_decimal(pl.col("ext_raw"))).alias("theirs"),
    )
    return internal, external, injected(touched)


def injected(touched: pl.DataFrame) -> dict:
    """The expected breaks among the rows the generator changed or dropped: {key: difference}."""
    expected = {}
    for account, asset, ours, theirs in touched.select(
        "account", "asset", "ours", "theirs"
    ).iter_rows():
        theirs = theirs if theirs is not None else Decimal(0)
        tolerance = RULES.for_key(account, asset, "quantity")
        if abs(ours - theirs) > max(tolerance.absolute, tolerance.relative * abs(theirs)):
            expected[f"position|{account}|{asset}|quantity"] = ours - theirs
    return expected


def naive_loop(internal: pl.DataFrame, external: pl.DataFrame) -> dict:
    """The per-row Python Decimal baseline: a dict join and one comparison per key."""
    theirs = dict(
        zip(
            zip(external["account"], external["asset"], strict=True),
            external["quantity"],
            strict=True,
        )
    )
    cache: dict = {}
    found = {}
    for account, asset, ours in internal.iter_rows():
        other = theirs.pop((account, asset), None)
        external_value = other if other is not None else Decimal(0)
        if asset not in cache:
            cache[asset] = RULES.for_key(account, asset, "quantity")
        tolerance = cache[asset]
        difference = ours - external_value
        if abs(difference) > max(tolerance.absolute, tolerance.relative * abs(external_value)):
            found[f"position|{account}|{asset}|quantity"] = difference
    for (account, asset), other in theirs.items():
        if other != 0:
            found[f"position|{account}|{asset}|quantity"] = -other
    return found


def timed(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def datacompy_keys(internal: pl.DataFrame, external: pl.DataFrame) -> set:
    import datacompy

    # Its tolerance is per column, not per asset: the tolerant assets' rule, for every row.
    compare = datacompy.PolarsCompare(
        internal,
        external,
        join_columns=["account", "asset"],
        abs_tol=float(TOLERANCE.absolute),
        rel_tol=float(TOLERANCE.relative),
    )
    mismatched = compare.all_mismatch().select("account", "asset").iter_rows()
    only_one_side = [compare.df1_unq_rows, compare.df2_unq_rows]
    keys = {f"position|{a}|{s}|quantity" for a, s in mismatched}
    for frame in only_one_side:
        keys |= {
            f"position|{a}|{s}|quantity" for a, s in frame.select("account", "asset").iter_rows()
        }
    return keys


def datacompy_pandas_keys(internal, external) -> set:
    """datacompy's pandas path on float64 frames made beforehand (its fastest setting)."""
    import datacompy

    compare = datacompy.PandasCompare(
        internal,
        external,
        join_columns=["account", "asset"],
        abs_tol=float(TOLERANCE.absolute),
        rel_tol=float(TOLERANCE.relative),
    )
    keys = set(map(tuple, compare.all_mismatch()[["account", "asset"]].itertuples(index=False)))
    for frame in (compare.df1_unq_rows, compare.df2_unq_rows):
        keys |= set(map(tuple, frame[["account", "asset"]].itertuples(index=False)))
    return {f"position|{a}|{s}|quantity" for a, s in keys}


def as_float_pandas(frame: pl.DataFrame):
    """Only for datacompy, which compares through float64 anyway."""
    return frame.with_columns(pl.col("quantity").cast(pl.Float64)).to_pandas()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    internal, external, expected = generate(args.rows)

    engine_s, found = timed(lambda: reconcile_balances(internal, external, RULES), 3)
    naive_s, naive = timed(lambda: naive_loop(internal, external), 1)
    datacompy_s, compared = timed(lambda: datacompy_keys(internal, external), 3)
    # datacompy's pandas path on the same exact values (Python Decimal objects), and on float64
    # copies (lossy, its fastest setting); conversions are made beforehand, outside the timing.
    book, exchange = internal.to_pandas(), external.to_pandas()
    decimal_s, decimal_compared = timed(lambda: datacompy_pandas_keys(book, exchange), 3)
    book, exchange = as_float_pandas(internal), as_float_pandas(external)
    float_s, float_compared = timed(lambda: datacompy_pandas_keys(book, exchange), 3)
    exact_datacompy_s = min(datacompy_s, decimal_s)

    got = dict(zip(found["break_key"], found["difference"], strict=True))
    figures = {
        "benchmark": "engine_balances",
        "rows": args.rows,
        "injected_breaks": len(expected),
        "engine_s": round(engine_s, 3),
        "naive_decimal_loop_s": round(naive_s, 3),
        "datacompy_polars_s": round(datacompy_s, 3),
        "datacompy_pandas_decimal_s": round(decimal_s, 3),
        "datacompy_pandas_float64_s": round(float_s, 3),
        "engine_vs_datacompy_same_data": round(exact_datacompy_s / engine_s, 2),
        "engine_vs_datacompy_float64": round(float_s / engine_s, 2),
        "engine_vs_naive": round(naive_s / engine_s, 2),
        "engine_exact": got == expected,
        "naive_exact": naive == expected,
        "datacompy_exact": {
            "polars": compared == set(expected),
            "pandas_decimal": decimal_compared == set(expected),
            "pandas_float64": float_compared == set(expected),
        },
        "datacompy_breaks_found": len(compared),
    }
    print(
        f"engine {figures['engine_vs_datacompy_float64']}x datacompy's float64 path (same run: "
        f"engine {engine_s:.3f} s exact, datacompy float64 {float_s:.3f} s, {args.rows} rows)"
    )
    print(json.dumps(figures))
    return 0 if figures["engine_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
