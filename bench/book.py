"""The effective book's cost: the 1,000,000-trade run of `end-to-end` over a book carrying
100,000 applied adjustments, against the same run with none (target <= 1.2x).

The adjustments are written as applied corrections write them (`reconciliation.book.services`):
price, quantity and fee deltas of 50,000 book trades, each up and back down, so the breaks stay
the same and only the cost of reading and merging 100,000 adjustments is measured. Each run is
executed in a fresh process, as a worker would (`end_to_end.measure_whole`), twice, and the
faster of each is compared (the second sees its breaks again, as the adjusted runs do).
"""

from __future__ import annotations

import sys
import uuid
from decimal import Decimal
from pathlib import Path

ADJUSTED = 100_000


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


def run(rows: int, folder: Path) -> dict:
    from bench import end_to_end
    from bench.database import bench_database
    from config.celery import app

    with bench_database():
        ids = end_to_end._setup_in_child(rows)
        idle = f"bench-{uuid.uuid4().hex[:8]}"
        app.conf.task_default_queue = idle
        internal, external = ids["book trades"], ids["exchange trades"]
        plain = [end_to_end._whole("trades", internal, external, idle) for _ in range(2)]
        print(f"  without adjustments: {plain}", file=sys.stderr)
        written = _adjust(internal, ADJUSTED)
        adjusted = [end_to_end._whole("trades", internal, external, idle) for _ in range(2)]
        print(f"  with {written} adjustments: {adjusted}", file=sys.stderr)
        end_to_end._forget_queue(idle)
    best_plain = min(r["seconds"] for r in plain)
    best_adjusted = min(r["seconds"] for r in adjusted)
    return {
        "rows_per_side": rows,
        "adjustments": written,
        "seconds_without": best_plain,
        "seconds_with": best_adjusted,
        "ratio": round(best_adjusted / best_plain, 3),
        "target_ratio": 1.2,
        "peak_rss_mb_with": max(r["peak_rss_mb"] for r in adjusted),
    }
