"""End to end: both sides already loaded -> run -> breaks stored; and a split run on 1 vs 2 workers.

Setup (not timed): N exchange trades and about N book fills with split fills and injected
differences (the generator of bench/engine_trades.py), and N book balances against N exchange
balances (bench/engine_balances.py), each loaded through the product's import path into a
throw-away database, with the columnar copy a worker writes after each import; then the
database is vacuumed and analysed, as one loaded earlier would be. All in a process of its own,
as imports are: the gigabytes that generating four million rows leaves behind slowed the timed
runs by a third when they lived beside them (a trades run 13.8 s against 10.2 s).

Timed:
- `trades` and `position` runs executed whole, each in a fresh process
  (`run_execution.execute_run`, as a worker does): from start to breaks, observations and
  matches stored; the process's peak RSS.
  Targets: <= 12 s, <= 2 GB.
- the same trades and position runs split into RUN_PARTITIONS parts, executed by real Celery
  worker processes (concurrency 1 each, each confined to a core of its own): once with one
  worker, once with two; start to succeeded, and how many of the machine's cores were busy
  meanwhile (PostgreSQL shares them with the workers here).
  Target: two workers >= 1.7x faster than one.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
PARTS = 4


def _database_url() -> str:
    from django.db import connection

    params = connection.settings_dict
    host = quote(str(params.get("HOST") or "127.0.0.1"), safe="")
    password = quote(str(params.get("PASSWORD") or ""), safe="")
    credentials = f"{params['USER']}:{password}" if password else params["USER"]
    return f"postgres://{credentials}@{host}:{params.get('PORT') or 5432}/{params['NAME']}"


def _child_env(**extra: str) -> dict:
    from django.conf import settings

    return {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL,
            "DJANGO_SETTINGS_MODULE": "config.settings", **extra}  # fmt: skip


# --- Setup ---------------------------------------------------------------------------------------


def _trades_csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.with_columns(
        account=pl.lit("main"),
        order_id=pl.col("order_id").fill_null(""),
        exchange_trade_id=pl.col("exchange_trade_id").fill_null(""),
    ).select(
        "trade_id", "account", "pair", "side", "quantity", "price", "fee", "fee_asset",
        "executed_at", "order_id", "exchange_trade_id",
    ).write_csv(buffer, datetime_format="%Y-%m-%dT%H:%M:%S%.6fZ")  # fmt: skip
    return buffer.getvalue()


def _balances_csv(frame: pl.DataFrame) -> bytes:
    # One dataset is one account: the generator's (account, asset) keys become assets of `main`.
    buffer = io.BytesIO()
    frame.select(
        pl.lit("main").alias("account"),
        (pl.col("asset") + pl.col("account").str.replace("acct", "N")).alias("asset"),
        "quantity",
        pl.lit("2026-02-27T10:16:05Z").alias("as_of"),
    ).write_csv(buffer)
    return buffer.getvalue()


def _load(source: str, kind: str, fmt: str, data: bytes) -> int:
    from reconciliation.datasets import ingest, services

    account, _ = services.ensure_account(
        source_code=source, account_code="main", kind=kind, by=None
    )
    result = ingest.import_file(
        source=account.source, account=account, format_code=fmt, data=data, filename=f"{fmt}.csv"
    )
    return result.dataset.pk


def _setup(rows: int) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    import engine_balances
    import engine_trades

    started = time.perf_counter()
    internal, external, _ = engine_trades.generate(rows)
    ids = {
        "book trades": _load("book", "internal", "generic-trades", _trades_csv(internal)),
        "exchange trades": _load("venue", "exchange", "generic-trades", _trades_csv(external)),
    }
    del internal, external
    internal, external, _ = engine_balances.generate(rows)
    ids["book balances"] = _load("book", "internal", "generic-balances", _balances_csv(internal))
    ids["exchange balances"] = _load(
        "venue", "exchange", "generic-balances", _balances_csv(external)
    )
    print(f"  setup: loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # What a worker does after each import: the datasets' columnar copies for the engine.
    from reconciliation.datasets import frames
    from reconciliation.models import Dataset

    started = time.perf_counter()
    for pk in ids.values():
        frames.prepare(Dataset.objects.get(pk=pk))
    print(f"  setup: frames prepared in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    _settle()
    return ids


def _setup_in_child(rows: int) -> dict:
    """`_setup` in a process of its own (see the module's docstring); returns the dataset ids."""
    return in_child("end_to_end", f"_setup({rows})")


def in_child(module: str, call: str):
    """`bench.<module>.<call>` evaluated in a fresh Django process; its JSON result."""
    import json

    code = (
        f"import django, json; django.setup(); from bench import {module}; "
        f"print('RESULT ' + json.dumps({module}.{call}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_child_env(),
                         stdout=subprocess.PIPE, text=True, check=True)  # fmt: skip
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def _settle() -> None:
    """Let the database finish with the load before anything is timed, as one loaded earlier
    would have: PostgreSQL vacuums and analyses freshly loaded tables in the background, and
    that work would otherwise land inside the first timed run."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
    print(f"  setup: vacuumed in {time.perf_counter() - started:.1f} s", file=sys.stderr)


# --- A whole run in a fresh process --------------------------------------------------------------


def _start(type_: str, internal: int, external: int) -> int:
    from reconciliation.models import Dataset
    from reconciliation.runs import services as runs

    run = runs.start_run(
        type=type_,
        internal=Dataset.objects.get(pk=internal),
        external=Dataset.objects.get(pk=external),
    )
    return run.pk


def measure_whole(run_id: int) -> dict:
    """In a fresh process: execute one run as a worker does, timed, with peak memory."""
    from reconciliation.models import Run
    from reconciliation.runs import execution as run_execution

    started = time.perf_counter()
    status = run_execution.execute_run(run_id)
    seconds = time.perf_counter() - started
    run = Run.objects.get(pk=run_id)
    return {"status": status, "seconds": round(seconds, 2), "engine_ms": run.engine_ms,
            "breaks": run.break_count, "matches": run.match_count,
            "peak_rss_mb": _peak_rss_mb()}  # fmt: skip


def _peak_rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def _whole(type_: str, internal: int, external: int, queue: str) -> dict:
    run_id = _start(type_, internal, external)
    env = _child_env(RUN_PARTITIONS="1", CELERY_QUEUE=queue)
    code = (
        "import django, json; django.setup(); from bench import end_to_end; "
        f"print('RESULT ' + json.dumps(end_to_end.measure_whole({run_id})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    import json

    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


# --- A split run on real workers -----------------------------------------------------------------


@contextmanager
def _workers(count: int, queue: str, folder: Path):
    import redis
    from django.conf import settings

    from config.health import HEARTBEAT_KEY

    env = _child_env(CELERY_QUEUE=queue, RUN_PARTITIONS=str(PARTS), RUN_PARTITION_MIN_ROWS="1",
                     WORKER_HEARTBEAT_INTERVAL="1")  # fmt: skip
    # Each worker confined to a core of its own, with one engine thread, as on machines of one
    # core each: otherwise a single worker's engine already keeps both cores of this machine
    # busy, and a second worker has nothing left to add. PostgreSQL is not confined.
    env["POLARS_MAX_THREADS"] = "1"
    processes, names = [], []
    for n in range(count):
        name = f"bench{n}-{queue}@localhost"
        log = open(folder / f"worker-{n}.log", "w")  # noqa: SIM115 - closed with the process
        command = ["taskset", "--cpu-list", str(n % (os.cpu_count() or 1)), sys.executable, "-m",
                   "celery", "-A", "config", "worker", "-l", "warning", "--concurrency", "1",
                   "-n", name, "--without-mingle", "--without-gossip"]  # fmt: skip
        processes.append((subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                           stderr=subprocess.STDOUT), log))  # fmt: skip
        names.append(name)
    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + 90
    while not all(client.hget(HEARTBEAT_KEY, name) for name in names):
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers did not start; see {folder}/worker-*.log")
        time.sleep(0.2)
    try:
        yield
    finally:
        for process, log in processes:
            process.terminate()
            process.wait(timeout=30)
            log.close()


def _split(type_: str, internal: int, external: int, workers: int, folder: Path) -> dict:
    from django.conf import settings

    from config.celery import app
    from reconciliation.models import Run, RunPartition

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    settings.RUN_PARTITIONS, settings.RUN_PARTITION_MIN_ROWS = PARTS, 1
    app.conf.task_default_queue = queue
    with _workers(workers, queue, folder):
        started, busy_before = time.perf_counter(), _busy_seconds()
        run_id = _start(type_, internal, external)
        while Run.objects.filter(pk=run_id, status__in=["queued", "running"]).exists():
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        busy = (_busy_seconds() - busy_before) / seconds
    run = Run.objects.get(pk=run_id)
    parts = RunPartition.objects.filter(run=run)
    return {"status": run.status, "seconds": round(seconds, 2), "breaks": run.break_count,
            "parts": parts.count(), "workers_used": len({p.worker for p in parts}),
            "cores_busy": round(busy, 2), "cores": os.cpu_count()}  # fmt: skip


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (workers and PostgreSQL alike)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run(rows: int, folder: Path) -> dict:
    from bench.database import bench_database
    from config.celery import app

    with bench_database():
        ids = _setup_in_child(rows)
        idle = f"bench-{uuid.uuid4().hex[:8]}"  # a queue nobody reads: runs are executed here
        app.conf.task_default_queue = idle
        trades = _whole("trades", ids["book trades"], ids["exchange trades"], idle)
        print(f"  whole trades run: {trades}", file=sys.stderr)
        position = _whole("position", ids["book balances"], ids["exchange balances"], idle)
        print(f"  whole position run: {position}", file=sys.stderr)
        split = {}
        for type_, side in (("trades", "trades"), ("position", "balances")):
            for workers in (1, 2):
                split[type_, workers] = _split(
                    type_, ids[f"book {side}"], ids[f"exchange {side}"], workers, folder
                )
                print(f"  split {type_} run, {workers} worker(s): {split[type_, workers]}",
                      file=sys.stderr)  # fmt: skip
        _forget_queue(idle)
    return {
        "rows_per_side": rows,
        "trades_whole": trades,
        "position_whole": position,
        **{f"split_{t}_{w}_worker{'s' if w > 1 else ''}": v for (t, w), v in split.items()},
        **{
            f"speedup_2_workers_{t}": round(split[t, 1]["seconds"] / split[t, 2]["seconds"], 2)
            for t in ("trades", "position")
        },
    }


def _forget_queue(queue: str) -> None:
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete(queue)
