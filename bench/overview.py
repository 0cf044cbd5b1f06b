"""The overview page with 1,000,000 breaks stored: p95 of the page as risk sees it.

The breaks are the breaks-list benchmark's (COPY straight into the table), their first
sightings spread over 60 days and resolutions over 30, so every chart and age bucket has work.
Target: p95 <= 300 ms.

The page keeps its break figures in the cache until the audit chain moves or the minute ends
(desk/selectors.break_figures), so most answers read them from there; the first answer after a
change computes them. Both are measured: the page as it answers, and the computation alone
(`compute_*`), which is what the first answer after a change adds.
"""

from __future__ import annotations

import statistics
import time

REQUESTS = 100


def run(rows: int, folder) -> dict:
    from django.db import connection
    from django.test import Client

    from bench import breaks_list
    from bench.database import bench_database
    from config.heap import freeze_loaded
    from desk import selectors

    with bench_database():
        user = breaks_list._seed(rows)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE reconciliation_break SET first_seen_at = now()"
                " - (id % 60) * interval '1 day' - (id % 24) * interval '1 hour',"
                " resolved_at = CASE WHEN status = 'resolved'"
                " THEN now() - (id % 30) * interval '1 day' END"
            )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) reconciliation_break")
        freeze_loaded()  # as a web process does (config/wsgi.py)
        client = Client()
        client.force_login(user)
        assert client.get("/").status_code == 200  # warm: the first answer of a process
        samples = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            response = client.get("/")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200
        computed = []
        for _ in range(20):
            started = time.perf_counter()
            selectors.open_breaks()
            selectors.per_day()
            computed.append(time.perf_counter() - started)
        return {
            "rows": rows,
            "requests": REQUESTS,
            "compute_median_ms": round(statistics.median(computed) * 1000, 1),
            "compute_max_ms": round(max(computed) * 1000, 1),
            "page_median_ms": round(statistics.median(samples) * 1000, 1),
            "page_p95_ms": round(statistics.quantiles(samples, n=20)[-1] * 1000, 1),
            "target_p95_ms": 300,
        }
