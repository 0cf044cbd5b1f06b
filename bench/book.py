"""The effective book's cost: the 1,000,000-trade run of `end-to-end` over a book carrying
100,000 applied adjustments, against the same run with none (target <= 1.2x).

Two book datasets hold the same 1,000,000 trades (the second loaded under a source of its own);
the second gets the adjustments, written as applied corrections write them
(`reconciliation.book.services`): price, quantity and fee deltas of 50,000 of its trades, each
up and back down, so its breaks stay those of the first and only the cost of reading and merging
100,000 adjustments is measured. Runs of the two alternate, each executed in a fresh process as
a worker would (`end_to_end.measure_whole`), so a busy moment of the machine falls on both
alike; the first run of each finds its breaks new and is left out, and the fastest of the rest
of each is compared.
"""

from __future__ import annotations

import json
import sys
import uuid
from decimal import Decimal
from pathlib import Path

ADJUSTED = 100_000
ROUNDS = 4  # runs of each book; the first of each stores new breaks and is not compared


def _adjust(dataset_id: int, count: int) -> int:
    from reconciliation.book import services as book
    from reconciliation.datasets import frames
    from reconciliation.models import Dataset

    dataset = Dataset.objects.select_related("account").get(pk=dataset_id)
    # Half as many trades as adjustments, each adjusted up and back down again in one set: the
    # book's values (and so the breaks) stay those of the run without, while the run still
    # reads and merges every adjustment. A fair comparison of the merge's cost.
    trade_ids = frames.load(dataset).get_column("trade_id").head(count // 2).to_list()
    fields = ("price", "quantity", "fee")
    step = Decimal("0.000001")
    entries = [
        (dataset, [book.Change("trades", "main", trade_id, fields[n % 3], "add", step),
                   book.Change("trades", "main", trade_id, fields[n % 3], "add", -step)],
         f"bench {n}")
        for n, trade_id in enumerate(trade_ids)
    ]  # fmt: skip
    book.write_sets(entries)
    return 2 * len(entries)


def load_second_book(rows: int) -> int:
    """The book's trades again, under another source; its dataset's id."""
    from bench import end_to_end
    from reconciliation.datasets import frames
    from reconciliation.models import Dataset

    sys.path.insert(0, str(end_to_end.ROOT / "bench"))
    import engine_trades

    internal, _, _ = engine_trades.generate(rows)
    pk = end_to_end._load(
        "book-copy", "internal", "generic-trades", end_to_end._trades_csv(internal)
    )
    frames.prepare(Dataset.objects.get(pk=pk))
    end_to_end._settle()
    return pk


def run(rows: int, folder: Path) -> dict:
    from bench import end_to_end
    from bench.database import bench_database
    from config.celery import app

    with bench_database():
        ids = end_to_end._setup_in_child(rows)
        plain, external = ids["book trades"], ids["exchange trades"]
        # The book's trades again, in a process of its own as the setup is.
        adjusted = end_to_end.in_child("book", f"load_second_book({rows})")
        written = _adjust(adjusted, ADJUSTED)
        idle = f"bench-{uuid.uuid4().hex[:8]}"
        app.conf.task_default_queue = idle
        times = {"without": [], "with": []}
        for _ in range(ROUNDS):
            times["without"].append(end_to_end._whole("trades", plain, external, idle))
            times["with"].append(end_to_end._whole("trades", adjusted, external, idle))
        end_to_end._forget_queue(idle)
    print(f"  runs: {json.dumps(times)}", file=sys.stderr)
    kept = {side: runs[1:] for side, runs in times.items()}
    assert {r["breaks"] for r in kept["without"]} == {r["breaks"] for r in kept["with"]}
    best = {side: min(r["seconds"] for r in runs) for side, runs in kept.items()}
    return {
        "rows_per_side": rows,
        "adjustments": written,
        "seconds_without": best["without"],
        "seconds_with": best["with"],
        "ratio": round(best["with"] / best["without"], 3),
        "target_ratio": 1.2,
        "each_without": [r["seconds"] for r in times["without"]],
        "each_with": [r["seconds"] for r in times["with"]],
        "breaks": kept["with"][0]["breaks"],
        "peak_rss_mb_with": max(r["peak_rss_mb"] for r in kept["with"]),
    }
