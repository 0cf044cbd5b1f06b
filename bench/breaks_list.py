"""The breaks list page and API with 1,000,000 breaks stored: p95 of filtered pages.

Breaks are generated straight into the table with COPY (the product's COPY path is measured
by the ingest benchmark). Target: p95 <= 150 ms for a filtered page.
"""

from __future__ import annotations

import io
import statistics
import time

import numpy as np

ASSETS = ["BTC", "ETH", "SOL", "DOGE", "ADA", "DOT", "USDC", "USD", "EUR", "XRP"]
TYPES = ["position", "cash", "trades", "fees", "valuation"]
SEVERITIES = ["low", "medium", "high", "critical"]
STATUSES = ["open", "investigating", "resolved", "accepted"]


def _generate(rows: int, run_id: int, internal: int, external: int) -> bytes:
    rng = np.random.default_rng(11)
    out = io.StringIO()
    types = rng.integers(0, len(TYPES), rows)
    assets = rng.integers(0, len(ASSETS), rows)
    severities = rng.integers(0, len(SEVERITIES), rows)
    statuses = rng.integers(0, len(STATUSES), rows)
    values = rng.integers(1, 10**9, rows)
    for n in range(rows):
        status = STATUSES[statuses[n]]
        extra = "known" if status == "accepted" else '""'
        resolved = "2026-01-01 00:00:00+00" if status == "resolved" else ""
        out.write(
            f"b{n:08d},{TYPES[types[n]]},{TYPES[types[n]]}|main|{ASSETS[assets[n]]}|{n},"
            f"{internal},{external},main,{ASSETS[assets[n]]},{ASSETS[assets[n]]},quantity,"
            f"{status},{extra},{run_id},{run_id},2026-01-01 00:00:00+00,2026-01-02 00:00:00+00,"
            f"1,{resolved},{values[n]}.5,{values[n]},0.5,0.1,{values[n]}.25,"
            f"{SEVERITIES[severities[n]]},[],{values[n]},{{}}\n"
        )
    return out.getvalue().encode()


def _seed(rows: int):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.services import set_roles
    from reconciliation.demo import data as demo_data
    from reconciliation.models import Dataset, RuleSetVersion, Run

    ids = demo_data.load()
    internal, external = (
        Dataset.objects.get(pk=ids["book balances"]),
        Dataset.objects.get(pk=ids["kraken ledgers"]),
    )
    run = Run.objects.create(
        type="position", status="succeeded", internal_dataset=internal,
        internal_account_id=internal.account_id, external_dataset=external,
        rule_set_version=RuleSetVersion.objects.first(), as_of=internal.as_of,
        finished_at=internal.as_of,
    )  # fmt: skip
    columns = (
        "identity, type, break_key, internal_account_id, external_account_id, account, asset, "
        "entity, field, status, accepted_reason, first_seen_run_id, last_seen_run_id, "
        "first_seen_at, last_seen_at, times_seen, resolved_at, internal_value, external_value, "
        "difference, difference_pct, value_rc, severity, causes, suggested_value, details"
    )
    data = _generate(rows, run.pk, internal.account_id, external.account_id)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY reconciliation_break ({columns}) FROM STDIN (FORMAT csv)"
        ) as copy,
    ):
        copy.write(data)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reconciliation_break")
    user = get_user_model().objects.create_user("bench-risk")  # signed in with force_login
    set_roles(user, ["risk"], by=None)
    return user


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] * 1000


def run(rows: int, folder) -> dict:
    from django.test import Client

    from bench.database import bench_database

    with bench_database():
        user = _seed(rows)
        client = Client()
        client.force_login(user)
        filters = [
            {"severity": "critical", "status": "open"},
            {"type": "position", "asset": "BTC"},
            {"status": "investigating", "sort": "newest"},
            {"asset": "ETH", "severity": "high"},
        ]
        page, api = [], []
        for _ in range(15):
            for params in filters:
                started = time.perf_counter()
                response = client.get("/breaks/", params)
                page.append(time.perf_counter() - started)
                assert response.status_code == 200
                started = time.perf_counter()
                response = client.get("/api/breaks/", params)
                api.append(time.perf_counter() - started)
                assert response.status_code == 200 and response.json()["results"]
        return {
            "rows": rows,
            "page_p95_ms": round(_p95(page), 1),
            "api_p95_ms": round(_p95(api), 1),
        }
