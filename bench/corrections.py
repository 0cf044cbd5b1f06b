"""Corrections at scale: a position run with 100,000 breaks proposes its corrections and
applies the automatic ones (target <= 10 s); the approvals queue with them pending is
`python -m bench corrections-queue`.

The book and the exchange hold `rows` assets each (`--rows`, default 100,000 here: the bench's
1,000,000 default is for runs), every quantity differs, and prices value them: about one in
four differences (24 %) are within the default rule set's auto-correction limits (<= 1,000 USD and
<= 5%), the rest need one or two approvers. Everything goes through the product's paths: files
imported, the run executed, `corrections.services.propose_for_run`.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

DEFAULT_ROWS = 100_000
AS_OF = "2026-02-27T10:16:05Z"


def _files(rows: int, all_large: bool = False) -> tuple[bytes, bytes, bytes]:
    rng = np.random.default_rng(15)
    assets = [f"A{n:06d}" for n in range(rows)]
    book = rng.integers(1_000, 100_000, rows)
    # 80 %: a 0.5 % difference; 20 %: a 20 % one (above the percentage limit). `all_large`:
    # every one a 20 % difference (the approvals queue's benchmark).
    large = rng.random(rows) < (1.0 if all_large else 0.2)
    exchange = np.where(large, book * 6 // 5, book + book // 200 + 1)
    prices = rng.integers(1, 20, rows)

    def csv(frame: pl.DataFrame) -> bytes:
        buffer = io.BytesIO()
        frame.write_csv(buffer)
        return buffer.getvalue()

    def balances(quantities) -> bytes:
        quantity = [f"{q}.5" for q in quantities]
        return csv(pl.DataFrame({"account": "main", "asset": assets, "quantity": quantity,
                                 "as_of": AS_OF}))  # fmt: skip

    price_file = csv(pl.DataFrame({"asset": assets, "quote": "USD",
                                   "price": [f"{p}.25" for p in prices], "as_of": AS_OF,
                                   "source": "bench"}))  # fmt: skip
    return balances(book), balances(exchange), price_file


def _load(source: str, kind: str, fmt: str, data: bytes, account: bool = True):
    from reconciliation.datasets import frames, ingest, services
    from reconciliation.models import Source

    if account:
        target, _ = services.ensure_account(
            source_code=source, account_code="main", kind=kind, by=None
        )
        owner = target.source
    else:
        owner, _ = Source.objects.get_or_create(
            code=source, defaults={"name": source, "kind": kind}
        )
        target = None
    result = ingest.import_file(source=owner, account=target, format_code=fmt, data=data,
                                filename=f"{fmt}.csv")  # fmt: skip
    frames.prepare(result.dataset)
    return result.dataset


def run(rows: int, folder: Path) -> dict:
    from bench.database import bench_database

    rows = DEFAULT_ROWS if rows == 1_000_000 else rows
    with bench_database():
        return _measure(rows)


def _measure(rows: int) -> dict:
    from corrections import services as corrections
    from corrections.models import Correction
    from reconciliation.models import Adjustment, Run
    from reconciliation.runs import execution as run_execution
    from reconciliation.runs import services as runs

    started = time.perf_counter()
    book, exchange, prices = _files(rows)
    internal = _load("book", "internal", "generic-balances", book)
    external = _load("venue", "exchange", "generic-balances", exchange)
    price_set = _load("feed", "price_feed", "prices", prices, account=False)
    run = runs.start_run(type="position", internal=internal, external=external, prices=price_set)
    run_execution.execute_run(run.pk)
    run = Run.objects.get(pk=run.pk)
    print(f"  setup: {run.break_count} breaks in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)  # fmt: skip

    started = time.perf_counter()
    outcome = corrections.propose_for_run(run)
    seconds = time.perf_counter() - started
    by_status = {
        status: Correction.objects.filter(run=run, status=status).count()
        for status in ("pending", "applied", "failed")
    }
    return {
        "breaks": run.break_count,
        "propose_and_apply_s": round(seconds, 2),
        "target_s": 10,
        **outcome,
        "by_status": by_status,
        "adjustments": Adjustment.objects.count(),
    }
