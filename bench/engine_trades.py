"""Trade matching benchmark: `python bench/engine_trades.py [--rows N] [--naive-rows M]`.

Standalone (no Django). Generates N exchange trades and about N internal fills with a known truth
(most matched by id, some only by time/quantity/price, ~1% split fills both ways, ~0.5% book
fills split in pieces that each carry the exchange id, ~1% missing on each side,
price/quantity/fee/time differences on some id matches; a tenth of quantities use all 18 places),
then measures in the same run, on the same data:

- `match_trades` (median of 3 runs in this process), checked against the truth;
- a naive per-row Python loop doing the same matching with `Decimal`, on the trades of a subset of
  pairs when N is large (a pair never matches across pairs, so the subset is a true sample); its
  time is extrapolated linearly to N and reported as such, and its result is checked against both
  the truth and the engine's result on that subset.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciliation.engine.trades import match_trades
from reconciliation.engine.types import TRADES, Override, Tolerance, ToleranceRules

ACCOUNTS = ["kraken-main", "kraken-hedge", "binance-main", "coinbase-main"]
PAIRS = [f"{b}/USD" for b in ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "DOT", "LTC", "LINK",
                              "AVAX", "ATOM", "UNI", "XLM", "ALGO", "FIL", "ETC", "AAVE", "NEAR",
                              "TRX", "BCH")]  # fmt: skip
DAY_US = 86_400_000_000
START = datetime(2025, 3, 1, tzinfo=UTC)
WINDOW = timedelta(seconds=5)
RULES = ToleranceRules(
    Tolerance(time_window=WINDOW),
    (Override(Tolerance(relative=Decimal("0.0001"), time_window=WINDOW), field="price"),),
)
SHARES = {  # share of external trades per kind (the rest are plain id matches)
    "price": 0.01, "quantity": 0.002, "fee": 0.002, "time": 0.001,
    "window": 0.03, "split_one_many": 0.005, "split_many_one": 0.005, "missing_internal": 0.01,
    "split_by_id": 0.005,
}  # fmt: skip
MISSING_EXTERNAL = 0.01  # internal fills with no exchange trade, as a share of N


# --- Data with a known truth ---------------------------------------------------------------------


def generate(n: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """External trades, internal fills and the truth (matches by kind, break keys)."""
    rng = np.random.default_rng(seed)
    kinds = np.full(n, "id", dtype=object)
    edges = np.cumsum([int(n * s) for s in SHARES.values()])
    for (kind, _), lo, hi in zip(SHARES.items(), np.r_[0, edges[:-1]], edges, strict=True):
        kinds[lo:hi] = kind
    rng.shuffle(kinds)
    ext = pl.DataFrame({
        "trade_id": [f"E{k}" for k in range(n)],
        "account": np.array(ACCOUNTS)[rng.integers(0, len(ACCOUNTS), n)],
        "pair": np.array(PAIRS)[rng.integers(0, len(PAIRS), n)],
        "side": np.where(rng.random(n) < 0.5, "buy", "sell"),
        "kind": kinds,
        "t": np.sort(rng.integers(0, DAY_US, n)),
        "q8": rng.integers(1_000_000, 5_000_000_000, n),  # 0.01 .. 50 in 1e-8
        "q18": rng.integers(1, 10**9, n),  # extra digits for the 18-place quantities
        "p": rng.integers(1_000_000, 6_000_000_000, n),  # 10 .. 60 000 in 1e-5
        "f": rng.integers(1, 10_000_000, n),  # fee in 1e-8
        "off": rng.integers(-2_000_000, 2_000_000, n),  # window kind: time offset in µs
        "pieces": rng.integers(2, 4, n),
    })  # fmt: skip
    return _build(ext, rng)


def _build(ext: pl.DataFrame, rng) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    rows_e, rows_i, truth = [], [], {"matches": set(), "breaks": set()}
    long = rng.random(ext.height) < 0.1
    for k, r in enumerate(ext.iter_rows(named=True)):
        q = Decimal(r["q8"]).scaleb(-8)
        if long[k]:
            q += Decimal(r["q18"]).scaleb(-18)
        at = START + timedelta(microseconds=r["t"])
        base = {"account": r["account"], "pair": r["pair"], "side": r["side"],
                "base": r["pair"].split("/")[0], "quote": "USD", "quantity": q,
                "price": Decimal(r["p"]).scaleb(-5), "fee": Decimal(r["f"]).scaleb(-8),
                "fee_asset": "USD", "executed_at": at}  # fmt: skip
        _kind(r["kind"], k, r, base, rows_e, rows_i, truth)
    n_missing = int(ext.height * MISSING_EXTERNAL)
    for j in range(n_missing):
        r = ext.row(j * 97 % ext.height, named=True)
        t = START + timedelta(microseconds=(r["t"] + 1_234_567) % DAY_US)
        q = Decimal(int(rng.integers(1_000_000, 5_000_000_000))).scaleb(-8) + Decimal("1e-9")
        rows_i.append({"trade_id": f"X{j}", "order_id": f"OX{j}", "account": r["account"],
                       "pair": r["pair"], "base": r["pair"].split("/")[0], "quote": "USD",
                       "side": r["side"], "quantity": q, "price": Decimal(r["p"]).scaleb(-5),
                       "fee": Decimal("0.01"), "fee_asset": "USD", "executed_at": t})  # fmt: skip
        truth["breaks"].add(f"trades|{r['account']}|missing|X{j}")
    schema = dict(TRADES)
    external = pl.DataFrame(rows_e, schema=schema, orient="row")
    internal = pl.DataFrame(rows_i, schema=schema, orient="row")
    return internal, external, truth


def _kind(kind, k, r, base, rows_e, rows_i, truth) -> None:
    eid, iid, acct = f"E{k}", f"I{k}", r["account"]
    if kind.startswith("split"):
        _split(kind, k, r, base, rows_e, rows_i, truth)
        return
    rows_e.append({**base, "trade_id": eid, "order_id": f"O{k}"})
    if kind == "missing_internal":
        truth["breaks"].add(f"trades|{acct}|missing|{eid}")
        return
    fill = {**base, "trade_id": iid, "exchange_trade_id": eid, "order_id": f"O{k}"}
    if kind == "window":
        fill["exchange_trade_id"] = None
        fill["executed_at"] = base["executed_at"] + timedelta(microseconds=r["off"])
        fill["price"] = base["price"] + base["price"].scaleb(-6)  # within the 1e-4 tolerance
    elif kind == "price":
        fill["price"] = base["price"] * Decimal("1.01")
    elif kind == "quantity":
        fill["quantity"] = base["quantity"] + Decimal("0.001")
    elif kind == "fee":
        fill["fee"] = base["fee"] + Decimal("0.01")
    elif kind == "time":
        fill["executed_at"] = base["executed_at"] + timedelta(hours=1)
        kind = "executed_at"
    rows_i.append(fill)
    rule = "window" if kind == "window" else "id"
    truth["matches"].add((acct, (iid,), (eid,), rule))
    if kind in ("price", "quantity", "fee", "executed_at"):
        truth["breaks"].add(f"trades|{acct}|{eid}|{kind}")


def _split(kind, k, r, base, rows_e, rows_i, truth) -> None:
    many_external, by_id = kind == "split_one_many", kind == "split_by_id"
    pieces = []
    for j in range(r["pieces"]):
        q = (base["quantity"] / (j + 2)).quantize(Decimal("1e-8"))
        price = base["price"] + Decimal(j).scaleb(-5)
        pieces.append({**base, "quantity": q, "price": price, "order_id": f"O{k}",
                       "executed_at": base["executed_at"] + timedelta(milliseconds=300 * j),
                       "fee": base["fee"] + Decimal(j).scaleb(-8)})  # fmt: skip
    with localcontext(prec=120):
        total = sum(p["quantity"] for p in pieces)
        vwap = sum(p["quantity"] * p["price"] for p in pieces) / total
    single = {**base, "quantity": total, "order_id": f"O{k}", "fee": sum(p["fee"] for p in pieces),
              "price": vwap.quantize(Decimal("1e-18"), rounding=ROUND_HALF_EVEN),
              "executed_at": base["executed_at"] + timedelta(milliseconds=200)}  # fmt: skip
    many_ids = [f"{'E' if many_external else 'I'}{k}.{j}" for j in range(len(pieces))]
    one_id = f"{'I' if many_external else 'E'}{k}"
    exchange_id = {"exchange_trade_id": one_id} if by_id else {}
    for piece, pid in zip(pieces, many_ids, strict=True):
        (rows_e if many_external else rows_i).append({**piece, "trade_id": pid, **exchange_id})
    (rows_i if many_external else rows_e).append({**single, "trade_id": one_id})
    ids = ((one_id,), tuple(many_ids)) if many_external else (tuple(many_ids), (one_id,))
    rule = "split:one-to-many" if many_external else "split:many-to-one"
    rule = "id:many-to-one" if by_id else rule
    truth["matches"].add((r["account"], *ids, rule))


# --- The naive baseline: one row at a time, Decimal ----------------------------------------------


def _within(diff: Decimal, external: Decimal, tolerance: Tolerance) -> bool:
    return abs(diff) <= max(tolerance.absolute, tolerance.relative * abs(external))


def _fits(a: dict, b: dict, rules: ToleranceRules) -> bool:
    tol = {f: rules.for_key(a["account"], a["pair"], f) for f in ("quantity", "price")}
    return _within(a["quantity"] - b["quantity"], b["quantity"], tol["quantity"]) and _within(
        a["price"] - b["price"], b["price"], tol["price"]
    )


def naive(internal: pl.DataFrame, external: pl.DataFrame, rules: ToleranceRules):
    """Matching as a per-row Python loop: (matches, break keys) in the truth's shape."""
    ins = [dict(r, row=n) for n, r in enumerate(internal.iter_rows(named=True))]
    ext = [dict(r, row=n) for n, r in enumerate(external.iter_rows(named=True))]
    used_i, used_e, matches = set(), set(), []
    by_id, booked = {}, defaultdict(list)
    for e in ext:
        by_id.setdefault((e["account"], e["trade_id"]), e)
        booked[(e["account"], e["trade_id"])].append(e)
    _naive_id_groups(ins, booked, used_i, used_e, matches, rules)
    for i in ins:
        if i["row"] in used_i:
            continue
        e = by_id.get((i["account"], i["exchange_trade_id"] or i["trade_id"]))
        if e is not None and e["row"] not in used_e:
            used_i.add(i["row"])
            used_e.add(e["row"])
            matches.append(("id", [i], [e]))
    _naive_window(ins, ext, used_i, used_e, matches, rules)
    _naive_splits(ins, ext, used_i, used_e, matches, rules, one_internal=True)
    _naive_splits(ext, ins, used_e, used_i, matches, rules, one_internal=False)
    return _naive_result(ins, ext, used_i, used_e, matches, rules)


def _naive_id_groups(ins, booked, used_i, used_e, matches, rules) -> None:
    """Book fills sharing an exchange id that exists once: one match, unless one alone is it."""
    groups = defaultdict(list)
    for i in ins:
        if i["exchange_trade_id"]:
            groups[(i["account"], i["exchange_trade_id"])].append(i)
    for key, rows in groups.items():
        if len(rows) < 2 or len(booked.get(key, [])) != 1:
            continue
        e, total = booked[key][0], sum(r["quantity"] for r in rows)
        if len({(r["pair"], r["side"]) for r in rows}) > 1 or total == 0:
            continue
        tol = rules.for_key(e["account"], e["pair"], "quantity")
        piece = any(_within(r["quantity"] - e["quantity"], e["quantity"], tol) for r in rows)
        if _within(total - e["quantity"], e["quantity"], tol) or not piece:
            used_i.update(r["row"] for r in rows)
            used_e.add(e["row"])
            matches.append(("id:many-to-one", rows, [e]))


def _groups(rows: list[dict], used: set) -> dict:
    groups = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["executed_at"], r["trade_id"])):
        if r["row"] not in used:
            groups[(r["account"], r["pair"], r["side"])].append(r)
    return {k: (v, [r["executed_at"] for r in v]) for k, v in groups.items()}


def _naive_window(ins, ext, used_i, used_e, matches, rules) -> None:
    groups = _groups(ext, used_e)
    for i in sorted(ins, key=lambda r: (r["executed_at"], r["trade_id"])):
        if i["row"] in used_i:
            continue
        rows, times = groups.get((i["account"], i["pair"], i["side"]), ([], []))
        lo = bisect.bisect_left(times, i["executed_at"] - WINDOW)
        hi = bisect.bisect_right(times, i["executed_at"] + WINDOW)
        fits = [e for e in rows[lo:hi] if e["row"] not in used_e and _fits(i, e, rules)]
        if fits:
            e = min(fits, key=lambda e: (abs(e["executed_at"] - i["executed_at"]), e["trade_id"]))
            used_i.add(i["row"])
            used_e.add(e["row"])
            matches.append(("window", [i], [e]))


def _naive_splits(singles, pieces, used_s, used_p, matches, rules, one_internal: bool) -> None:
    groups = _groups(pieces, used_p)
    for s in sorted(singles, key=lambda r: (r["executed_at"], r["trade_id"])):
        if s["row"] in used_s:
            continue
        rows, times = groups.get((s["account"], s["pair"], s["side"]), ([], []))
        lo = bisect.bisect_left(times, s["executed_at"] - WINDOW)
        hi = bisect.bisect_right(times, s["executed_at"] + WINDOW)
        near = [p for p in rows[lo:hi] if p["row"] not in used_p and _same_order(s, p)]
        run = _naive_run(s, near, rules, one_internal)
        if run:
            used_s.add(s["row"])
            used_p.update(p["row"] for p in run)
            kind = "split:one-to-many" if one_internal else "split:many-to-one"
            matches.append((kind, [s], run) if one_internal else (kind, run, [s]))


def _same_order(a: dict, b: dict) -> bool:
    return not a["order_id"] or not b["order_id"] or a["order_id"] == b["order_id"]


def _naive_run(s, near, rules, one_internal):
    best = None
    for a in range(len(near)):
        for b in range(a + 1, len(near)):
            run = near[a : b + 1]
            total = sum(p["quantity"] for p in run)
            with localcontext(prec=120):
                vwap = sum(p["quantity"] * p["price"] for p in run) / total
            merged = {"quantity": total, "price": vwap}
            internal, external = (s, merged) if one_internal else (merged, s)
            if _fits({**internal, "account": s["account"], "pair": s["pair"]}, external, rules):
                key = (abs(total - s["quantity"]), b - a, a)
                if best is None or key < best[0]:
                    best = (key, run)
    return best[1] if best else None


def _naive_result(ins, ext, used_i, used_e, matches, rules):
    found, breaks = set(), set()
    for rule, i_rows, e_rows in matches:
        acct = i_rows[0]["account"]
        ids = (tuple(r["trade_id"] for r in i_rows), tuple(r["trade_id"] for r in e_rows))
        found.add((acct, *(tuple(sorted(x)) for x in ids), rule))
        key = f"trades|{acct}|{'+'.join(ids[1])}|"
        sums = [
            {f: sum(r[f] for r in rows) for f in ("quantity", "fee")} for rows in (i_rows, e_rows)
        ]
        tol = {f: rules.for_key(acct, i_rows[0]["pair"], f) for f in ("quantity", "price", "fee")}
        if not _within(
            sums[0]["quantity"] - sums[1]["quantity"], sums[1]["quantity"], tol["quantity"]
        ):
            breaks.add(key + "quantity")
        if len(e_rows) == 1 and (len(i_rows) == 1 or rule == "id:many-to-one"):
            e = e_rows[0]
            with localcontext(prec=120):
                price = sum(r["quantity"] * r["price"] for r in i_rows) / sums[0]["quantity"]
            price = price.quantize(Decimal("1e-18"), rounding=ROUND_HALF_EVEN)
            if not _within(price - e["price"], e["price"], tol["price"]):
                breaks.add(key + "price")
            if max(abs(i["executed_at"] - e["executed_at"]) for i in i_rows) > WINDOW:
                breaks.add(key + "executed_at")
        if not _within(sums[0]["fee"] - sums[1]["fee"], sums[1]["fee"], tol["fee"]):
            breaks.add(key + "fee")
    for rows, used in ((ins, used_i), (ext, used_e)):
        breaks.update(f"trades|{r['account']}|missing|{r['trade_id']}" for r in rows
                      if r["row"] not in used)  # fmt: skip
    return {"matches": found, "breaks": breaks}


# --- Measuring, each run in a fresh process ------------------------------------------------------


def summary(result) -> dict:
    """The engine's result in the truth's shape."""
    matches = set()
    rows = result.matches.select("account", "rule", "internal_ids", "external_ids").iter_rows()
    for acct, rule, i_ids, e_ids in rows:
        kind = "window" if rule.startswith("pair+side+") else rule
        matches.add((acct, tuple(sorted(i_ids)), tuple(sorted(e_ids)), kind))
    return {"matches": matches, "breaks": set(result.breaks["break_key"])}


def _canonical(truth: dict) -> dict:
    matches = {(a, tuple(sorted(i)), tuple(sorted(e)), r) for a, i, e, r in truth["matches"]}
    return {"matches": matches, "breaks": set(truth["breaks"])}


def _sample(truth: dict, internal: pl.DataFrame, external: pl.DataFrame, pairs: list[str]):
    """The frames and the truth restricted to some pairs (a pair never matches another)."""
    sub_i, sub_e = (f.filter(pl.col("pair").is_in(pairs)) for f in (internal, external))
    pair_of = dict(zip(internal["trade_id"], internal["pair"], strict=True))
    pair_of |= dict(zip(external["trade_id"], external["pair"], strict=True))
    keep = {
        "matches": {m for m in truth["matches"] if pair_of[m[2][0]] in pairs},
        "breaks": {k for k in truth["breaks"] if pair_of[_break_trade(k)] in pairs},
    }
    return sub_i, sub_e, keep


def _break_trade(key: str) -> str:
    """The trade a truth break key names (its first external id, or the missing trade)."""
    part = key.split("|")
    return part[3] if part[2] == "missing" else part[2].split("+")[0]


def _child(kind: str, folder: Path) -> dict:
    """One timed run in this (fresh) process: the engine or the naive loop, checked."""
    internal = pl.read_parquet(folder / f"{kind}_internal.parquet")
    external = pl.read_parquet(folder / f"{kind}_external.parquet")
    started = time.perf_counter()
    if kind == "naive":
        found = naive(internal, external, RULES)
    else:
        found = match_trades(internal, external, RULES)
    seconds = time.perf_counter() - started
    peak = _peak_rss_mb()  # before checking
    truth = pickle.loads((folder / f"{kind}_truth.pickle").read_bytes())  # noqa: S301 - our own file
    found = found if kind == "naive" else summary(found)
    if kind == "naive":  # the engine must agree with the baseline on the same sample
        found_engine = summary(match_trades(internal, external, RULES))
        exact = found == truth and found_engine == truth
    else:
        exact = found == truth
        if not exact:
            _explain(found, truth)
    return {"seconds": seconds, "exact": exact, "peak_rss_mb": peak, "rows": external.height}


def _peak_rss_mb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux keeps that across exec, so a child spawned
    by a big parent would report the parent's size."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _explain(found: dict, truth: dict) -> None:
    for name in ("matches", "breaks"):
        extra, missing = found[name] - truth[name], truth[name] - found[name]
        print(f"{name}: {len(extra)} unexpected, {len(missing)} not found", file=sys.stderr)
        for item in sorted(extra, key=str)[:5] + sorted(missing, key=str)[:5]:
            print("  ", item, file=sys.stderr)


def _spawn(kind: str, folder: Path) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--data", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    print(done.stderr, end="", file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write(folder: Path, kind: str, internal, external, truth) -> None:
    internal.write_parquet(folder / f"{kind}_internal.parquet")
    external.write_parquet(folder / f"{kind}_external.parquet")
    (folder / f"{kind}_truth.pickle").write_bytes(pickle.dumps(truth))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=100_000, help="naive loop sample size")
    parser.add_argument("--child", choices=["engine", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.data)))
        return 0
    started = time.perf_counter()
    internal, external, truth = generate(args.rows)
    truth = _canonical(truth)
    per_pair = max(1, external.height // len(PAIRS))
    pairs = PAIRS[: max(1, min(len(PAIRS), -(-args.naive_rows // per_pair)))]
    sample = _sample(truth, internal, external, pairs)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _write(folder, "engine", internal, external, truth)
        _write(folder, "naive", *sample)
        generated = time.perf_counter() - started
        del internal, truth, sample
        gc.collect()
        runs = [_spawn("engine", folder) for _ in range(3)]
        slow = _spawn("naive", folder)
    engine_s = statistics.median(r["seconds"] for r in runs)
    naive_s = slow["seconds"] * external.height / slow["rows"]
    figures = {
        "benchmark": "engine_trades", "rows": external.height,
        "engine_s": round(engine_s, 3), "engine_runs_s": [round(r["seconds"], 3) for r in runs],
        "engine_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "naive_s": round(naive_s, 2), "naive_extrapolated": slow["rows"] < external.height,
        "naive_measured_rows": slow["rows"], "naive_measured_s": round(slow["seconds"], 3),
        "speedup": round(naive_s / engine_s, 1),
        "engine_exact": all(r["exact"] for r in runs), "naive_exact": slow["exact"],
        "generate_s": round(generated, 1),
    }  # fmt: skip
    print(json.dumps(figures))
    return 0 if figures["engine_exact"] and figures["naive_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
