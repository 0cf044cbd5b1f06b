"""A report over 100,000 breaks with 10,000 corrections: the content builder and each format,
each measured in a fresh process as a worker builds it.

Targets on this machine: content <= 2 s; Excel <= 10 s and <= 500 MB peak; PDF <= 5 s and
HTML <= 5 s (summary, charts, the top 1,000 breaks and corrections); CSV <= 1.5 s streamed.

The scope is a day with two position runs, reported as a period: one over 10,000 assets whose
corrections are proposed (`corrections.services.propose_for_run`), one over 90,000 more assets
left as breaks. Everything goes through the product's paths: files imported, runs executed,
`reports.content.builder.build` and `reports.rendering.render`, writing a file as a worker does.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

CORRECTED = 10_000
FORMATS = ("xlsx", "pdf", "html", "csv", "json")
TARGETS = {"content": 2.0, "xlsx": 10.0, "pdf": 5.0, "html": 5.0, "csv": 1.5}


def _run_of(assets: int, account: str, offset: int) -> int:
    """A finished position run over `assets` assets of its own book account; its id."""
    import polars as pl

    from bench import corrections as bench_corrections
    from reconciliation.runs import execution as run_execution
    from reconciliation.runs import services as runs

    book, exchange, prices = bench_corrections._files(assets + offset)

    def tail(data: bytes) -> bytes:  # the last `assets` rows: assets of their own names
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False).tail(assets)
        if "account" in frame.columns:
            frame = frame.with_columns(pl.lit(account).alias("account"))
        buffer = io.BytesIO()
        frame.write_csv(buffer)
        return buffer.getvalue()

    internal = _load(f"book-{account}", "internal", "generic-balances", tail(book), account)
    external = _load(f"venue-{account}", "exchange", "generic-balances", tail(exchange), account)
    price_set = _load(f"feed-{account}", "price_feed", "prices", tail(prices), None)
    run = runs.start_run(type="position", internal=internal, external=external, prices=price_set)
    run_execution.execute_run(run.pk)
    return run.pk


def _load(source: str, kind: str, fmt: str, data: bytes, account: str | None):
    from reconciliation.datasets import frames, ingest, services
    from reconciliation.models import Source

    if account:
        target, _ = services.ensure_account(
            source_code=source, account_code=account, kind=kind, by=None
        )
        owner = target.source
    else:
        target = None
        owner, _ = Source.objects.get_or_create(code=source, defaults={"name": source,
                                                                       "kind": kind})  # fmt: skip
    dataset = ingest.import_file(source=owner, account=target, format_code=fmt, data=data,
                                 filename=f"{source}.csv").dataset  # fmt: skip
    frames.prepare(dataset)
    return dataset


def seed(rows: int) -> dict:
    """Two runs of one day: CORRECTED breaks with corrections, the rest without."""
    from corrections import services as corrections
    from reconciliation.models import Run

    started = time.perf_counter()
    corrected = _run_of(CORRECTED, "desk-a", 0)
    outcome = corrections.propose_for_run(Run.objects.get(pk=corrected))
    _run_of(rows - CORRECTED, "desk-b", CORRECTED)
    from bench import end_to_end

    end_to_end._settle()
    day = Run.objects.get(pk=corrected).finished_at.date().isoformat()
    print(f"  setup: {outcome} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return {"day": day}


def measure(day: str, format_: str) -> dict:
    """In a fresh process: the content built and laid out as a worker does (the collector
    paused throughout, reports/building.py), each step timed, and the collector's resumption
    after the content is gone."""
    import gc
    from datetime import date

    from bench.end_to_end import _peak_rss_mb
    from config.embedded import data_dir
    from config.heap import collector_paused
    from reports.scope import Wanted

    day_ = date.fromisoformat(day)
    path = Path(data_dir()) / "bench" / f"report.{format_}"
    path.parent.mkdir(parents=True, exist_ok=True)
    collections = []
    gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(info))
    with collector_paused():
        figures = _build_and_render(Wanted(period_from=day_, period_to=day_), format_, path)
    started = time.perf_counter()
    gc.collect(0)  # what the collector finds young when it resumes: the content is gone
    figures["resume_s"] = round(time.perf_counter() - started, 3)
    figures.update(bytes=path.stat().st_size, peak_rss_mb=_peak_rss_mb(),
                   collections_during=len(collections) - 1)  # fmt: skip
    return figures


def _build_and_render(wanted, format_: str, path: Path) -> dict:
    from reports.content import builder
    from reports.rendering import render

    started = time.perf_counter()
    content = builder.build(wanted, generated_by="bench")
    built = time.perf_counter() - started
    started = time.perf_counter()
    with path.open("wb") as out:
        render(format_, content, out)
    laid_out = time.perf_counter() - started
    return {"content_s": round(built, 2), "render_s": round(laid_out, 2),
            "breaks": len(content.breaks), "corrections": len(content.corrections)}  # fmt: skip


def run(rows: int, folder) -> dict:
    from bench import end_to_end
    from bench.database import bench_database

    rows = 100_000 if rows == 1_000_000 else rows
    with bench_database():
        day = seed(rows)["day"]
        figures = {}
        for format_ in FORMATS:
            figures[format_] = end_to_end.in_child("reports", f"measure({day!r}, {format_!r})")
            print(f"  {format_}: {figures[format_]}", file=sys.stderr)
    each = [f["content_s"] for f in figures.values()]
    result = {"breaks": figures["xlsx"]["breaks"], "corrections": figures["xlsx"]["corrections"],
              "content_s": min(each), "content_s_each": each}  # fmt: skip
    for format_, found in figures.items():
        result[f"{format_}_s"] = found["render_s"]
        result[f"{format_}_peak_rss_mb"] = found["peak_rss_mb"]
        result[f"{format_}_bytes"] = found["bytes"]
        result[f"{format_}_resume_s"] = found["resume_s"]
    result["targets_s"] = TARGETS
    return result
