"""Generated Kraken trades.csv (current 24-column header) of any size, fast and reproducible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

HEADER = [
    "txid", "ordertxid", "pair", "aclass", "subclass", "time", "type", "ordertype", "price",
    "cost", "fee", "vol", "margin", "misc", "ledgers", "posttxid", "posstatuscode", "cprice",
    "ccost", "cfee", "cvol", "cmargin", "net", "trades",
]  # fmt: skip
PAIRS = ["BTC/USD", "ETH/USD", "SOL/USD", "DOGE/USD", "ETH/BTC", "BTC/EUR", "DOT/USD", "ADA/USD"]
ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))


def _ids(rng, prefix: str, count: int) -> pa.Array:
    letters = ALPHABET[rng.integers(0, len(ALPHABET), size=(count, 16))]
    parts = ["".join(row) for row in letters]
    return pa.array([f"{prefix}{p[:5]}-{p[5:10]}-{p[10:16]}" for p in parts])


def _fixed(values: np.ndarray, places: int) -> pa.Array:
    """Integers scaled by 10**places written as exact decimal strings."""
    text = pc.cast(pa.array(values), pa.string())
    padded = pc.utf8_lpad(text, places + 1, "0")
    whole = pc.utf8_slice_codeunits(padded, 0, -places)
    fraction = pc.utf8_slice_codeunits(padded, -places)
    return pc.binary_join_element_wise(whole, fraction, ".")


def kraken_trades(path: Path, rows: int, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    price = rng.integers(1_000_000, 10_000_000_000, size=rows)  # 5 dp
    vol = rng.integers(1_000, 500_000_000, size=rows)  # 8 dp; price * vol fits int64
    cost = price * vol // 100_000_000  # 5 dp
    fee = cost * 26 // 10_000
    start = np.datetime64("2025-01-01T00:00:00")
    offsets = np.sort(rng.integers(0, 365 * 24 * 3600 * 10_000, size=rows))
    times = (start + offsets.astype("timedelta64[100us]")).astype("datetime64[100us]")
    time_text = pc.utf8_slice_codeunits(
        pc.strftime(pa.array(times.astype("datetime64[us]")), "%Y-%m-%d %H:%M:%S.%f"), 0, 24
    )
    empty = pa.array([""] * rows)
    columns = {
        "txid": _ids(rng, "T", rows),
        "ordertxid": _ids(rng, "O", rows),
        "pair": pa.array(np.array(PAIRS)[rng.integers(0, len(PAIRS), size=rows)]),
        "aclass": pa.array(["forex"] * rows),
        "subclass": pa.array(["crypto"] * rows),
        "time": time_text,
        "type": pa.array(np.where(rng.integers(0, 2, size=rows) == 0, "buy", "sell")),
        "ordertype": pa.array(["limit"] * rows),
        "price": _fixed(price, 5),
        "cost": _fixed(cost, 5),
        "fee": _fixed(fee, 5),
        "vol": _fixed(vol, 8),
        "margin": _fixed(np.zeros(rows, dtype=np.int64), 5),
        "misc": empty,
        "ledgers": _ids(rng, "L", rows),
        "posttxid": pa.array(["TKH2SE-M7IF5-CFI7LT"] * rows),
    }
    for name in HEADER:
        columns.setdefault(name, empty)
    table = pa.table([columns[name] for name in HEADER], names=HEADER)
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
    return path
