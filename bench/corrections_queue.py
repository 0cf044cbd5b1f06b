"""The approvals queue with 100,000 pending corrections: p95 of filtered pages and API pages
(target <= 150 ms).

The corrections are a real run's: `rows` assets whose book and exchange quantities differ by
a fifth (beyond the auto-correction limits, so every one waits for approval), proposed by
`corrections.services.propose_for_run`.
"""

from __future__ import annotations

import statistics
import sys
import time

DEFAULT_ROWS = 100_000


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] * 1000


def _seed(rows: int):
    from accounts.services import set_roles
    from bench import corrections as bench_corrections
    from corrections import services
    from reconciliation.models import Run
    from reconciliation.runs import execution as run_execution
    from reconciliation.runs import services as runs

    started = time.perf_counter()
    book, exchange, prices = bench_corrections._files(rows, all_large=True)
    internal = bench_corrections._load("book", "internal", "generic-balances", book)
    external = bench_corrections._load("venue", "exchange", "generic-balances", exchange)
    price_set = bench_corrections._load("feed", "price_feed", "prices", prices, account=False)
    run = runs.start_run(type="position", internal=internal, external=external, prices=price_set)
    run_execution.execute_run(run.pk)
    outcome = services.propose_for_run(Run.objects.get(pk=run.pk))
    print(f"  setup: {outcome} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench-risk")  # signed in with force_login
    set_roles(user, ["risk"], by=None)
    return user, outcome


def run(rows: int, folder) -> dict:
    from django.db import connection
    from django.test import Client

    from bench.database import bench_database
    from config.heap import freeze_loaded

    rows = DEFAULT_ROWS if rows == 1_000_000 else rows
    with bench_database():
        user, outcome = _seed(rows)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        # What a web server process does once its views are loaded (config/wsgi.py): without
        # it, Python's full collections over the loaded libraries were the slowest responses.
        freeze_loaded()
        client = Client()
        client.force_login(user)
        filters = [
            {},
            {"severity": "high"},
            {"type": "position", "asset": "A000123"},
            {"min_impact": "1000", "max_impact": "50000"},
            {"age": "0", "severity": "critical"},
        ]
        # One untimed request of each first: a server's first page compiles its templates and
        # fills its caches once, not for each request measured.
        client.get("/corrections/")
        client.get("/api/corrections/")
        page, api = [], []
        for _ in range(12):
            for params in filters:
                started = time.perf_counter()
                response = client.get("/corrections/", params)
                page.append(time.perf_counter() - started)
                assert response.status_code == 200, response.status_code
                started = time.perf_counter()
                response = client.get("/api/corrections/", params)
                api.append(time.perf_counter() - started)
                assert response.status_code == 200, response.content[:300]
        return {
            "pending": outcome["proposed"] - outcome["applied"],
            "page_p95_ms": round(_p95(page), 1),
            "api_p95_ms": round(_p95(api), 1),
            "target_ms": 150,
        }
