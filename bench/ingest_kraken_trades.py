"""Import a generated 1,000,000-row Kraken trades.csv: wall time and peak memory.

Runs in its own database (`<name>_bench`, created and dropped here), so it neither needs nor
touches the demo's data. Target on 2 cores: <= 8 s and <= 1 GB peak.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path


def run(rows: int, folder: Path) -> dict:
    from bench import generate
    from bench.database import bench_database

    path = folder / f"kraken-trades-{rows}.csv"
    if not path.exists():
        started = time.perf_counter()
        generate.kraken_trades(path, rows)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    with bench_database():
        from reconciliation.datasets import ingest
        from reconciliation.models import Account, Source, TradeRecord

        source = Source.objects.create(code="kraken", name="Kraken", kind="exchange",
                                       exchange="kraken")  # fmt: skip
        account = Account.objects.create(source=source, code="bench")
        data = path.read_bytes()
        started = time.perf_counter()
        result = ingest.import_file(
            source=source, account=account, format_code="kraken-trades", data=data,
            filename=path.name,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        stored = TradeRecord.objects.filter(dataset=result.dataset).count()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": stored, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb)}
