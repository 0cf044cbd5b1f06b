"""Prometheus metrics (SPEC 7.1) in prometheus-client's multiprocess mode.

Two kinds of figure, kept apart:
- **Events** (a run ended, a report was built, a delivery failed): counters and histograms
  observed where they happen, in whichever process that is (a gunicorn worker, a Celery pool
  process, a command). Each process writes its values to its own file in
  `PROMETHEUS_MULTIPROC_DIR`; a scrape sums the files of every process, dead ones included (a
  counter keeps what a process counted before it ended).
- **States** (runs by status, corrections by status, the outbox's backlog, queue depths): read
  from PostgreSQL and Redis when `/metrics` is scraped, by the readers apps register here
  (`register_state`, from their AppConfig.ready). They are never written to the files, so they
  are one current figure however many processes run, and never stale.

The files are named by host and process id, not process id alone: containers sharing the folder
(web and workers in docker compose) each number their processes from 1.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil
import redis
from django.conf import settings
from django.db.models import Count
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / ".data" / "metrics"
PREFIX = "recondesk_"

# Kombu's Redis transport keeps a queue's messages of priority p > 0 in a list of their own.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)

_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def process_identity(pid: int | None = None) -> str:
    """This process's name in the metric files: host and process id (no "_", the files'
    separator)."""
    return f"{_HOST}-{os.getpid() if pid is None else pid}"


# Chosen before any metric is made (every metric module imports this one first), whatever
# prometheus_client chose when it was first imported (perhaps before the folder was set).
values.ValueClass = values.MultiProcessValue(process_identity)


def use_directory(path: str | Path | None = None) -> Path:
    """The folder every process of this machine writes its metric files to, made if missing,
    and set in the environment (so the processes this one starts write there too)."""
    folder = Path(path or os.environ.get(DIRECTORY_VARIABLE) or DEFAULT_DIRECTORY).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[DIRECTORY_VARIABLE] = str(folder)
    return folder


def process_ended(pid: int) -> None:
    """Bookkeeping for a process that ended (gunicorn's `child_exit`, a Celery pool process)."""
    folder = os.environ.get(DIRECTORY_VARIABLE)
    if folder:
        mark_process_dead(process_identity(pid), folder)


def compact_dead_processes(folder: str | Path | None = None) -> int:
    """Fold the files of this host's processes that are no longer running into one archive
    file per kind; how many were folded.

    Called when a server starts (gunicorn's master, a Celery worker), so the folder holds the
    files of live processes and one archive, not one file for every process that ever ran, and
    the counts of processes gone stay in the sums (no counter goes down). Serialised by a lock:
    servers of one host may start at once.
    """
    folder = Path(folder or os.environ.get(DIRECTORY_VARIABLE) or DEFAULT_DIRECTORY)
    folded = 0
    with open(folder / ".compact.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for kind in ("counter", "histogram"):
            dead = [
                path for path in folder.glob(f"{kind}_{_HOST}-*.db")
                if path.stem.rsplit("-", 1)[-1].isdigit()
                and not psutil.pid_exists(int(path.stem.rsplit("-", 1)[-1]))
            ]  # fmt: skip
            if not dead:
                continue
            archive = folder / f"{kind}_{_HOST}-archive.db"
            sources = [str(path) for path in ([archive] if archive.exists() else []) + dead]
            merged = MultiProcessCollector.merge(sources, accumulate=False)
            fresh = folder / f".{archive.name}.new"
            fresh.unlink(missing_ok=True)
            out = MmapedDict(str(fresh))
            try:
                for metric in merged:
                    for sample in metric.samples:
                        names, labels = list(sample.labels), list(sample.labels.values())
                        key = mmap_key(
                            metric.name, sample.name, names, labels, metric.documentation
                        )
                        out.write_value(key, sample.value, 0.0)
            finally:
                out.close()
            # The archive replaced, then the files it now holds removed: a scrape in between
            # counts them twice for a moment, never loses them.
            os.replace(fresh, archive)
            for path in dead:
                path.unlink(missing_ok=True)
            folded += len(dead)
    return folded


def counter(name: str, documentation: str, labels: Iterable[str]) -> Counter:
    """An event counter written to this process's metric file."""
    return Counter(PREFIX + name, documentation, list(labels), registry=None)


def histogram(name: str, documentation: str, labels: Iterable[str], buckets) -> Histogram:
    """An event histogram written to this process's metric file."""
    return Histogram(PREFIX + name, documentation, list(labels), buckets=buckets, registry=None)


def gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    """A state figure read at scrape time (for the readers given to `register_state`)."""
    return GaugeMetricFamily(PREFIX + name, documentation, labels=list(labels) or None)


def by_status(name: str, documentation: str, queryset, statuses) -> GaugeMetricFamily:
    """A gauge of the rows of `queryset` in each of `statuses` (those with none at 0)."""
    found = gauge(name, documentation, ["status"])
    rows = queryset.order_by().values("status").annotate(n=Count("id"))
    counted = {row["status"]: row["n"] for row in rows}
    for status in statuses:
        found.add_metric([status], counted.get(status, 0))
    return found


# --- States, read when scraped ----------------------------------------------------------------

_state_readers: dict[str, Callable[[], Iterable[Metric]]] = {}


def register_state(name: str, reader: Callable[[], Iterable[Metric]]) -> None:
    """Have `reader` (yielding gauges made by `gauge`) read at every scrape."""
    _state_readers[name] = reader


def queue_names() -> list[str]:
    """Every queue the app sends to: the default one and those configured for imports and
    the outbox relay."""
    names = [settings.CELERY_TASK_DEFAULT_QUEUE, settings.IMPORT_QUEUE, settings.OUTBOX_QUEUE]
    return list(dict.fromkeys(name for name in names if name))


def queue_depths(redis_url: str, queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (not those a worker has taken and not yet acknowledged)."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for step in _PRIORITY_STEPS:
                pipe.llen(queue if step == 0 else f"{queue}{_PRIORITY_SEPARATOR}{step}")
        lengths = pipe.execute()
    steps = len(_PRIORITY_STEPS)
    return {queue: sum(lengths[i * steps : (i + 1) * steps]) for i, queue in enumerate(queues)}


class StateCollector:
    """The state figures, read at each scrape; a reader that fails is reported, not fatal."""

    def collect(self) -> Iterable[Metric]:
        failed = gauge(
            "metrics_reader_failed", "1 if a state reader failed this scrape", ["reader"]
        )
        seconds = gauge("metrics_reader_seconds", "Time each state reader took", ["reader"])
        readers = {**_state_readers, "queues": self._queues}
        for name, reader in sorted(readers.items()):
            started = time.perf_counter()
            try:
                # Gathered first: a reader failing half-way yields none of its figures.
                metrics = list(reader())
            except Exception:  # a scrape still answers with the other readers' figures
                failed.add_metric([name], 1)
                metrics = []
            else:
                failed.add_metric([name], 0)
            seconds.add_metric([name], time.perf_counter() - started)
            yield from metrics
        yield failed
        yield seconds

    def _queues(self) -> Iterable[Metric]:
        depth = gauge("queue_depth", "Tasks waiting in each Celery queue", ["queue"])
        depths = queue_depths(settings.CELERY_BROKER_URL, queue_names())
        for queue, length in depths.items():
            depth.add_metric([queue], length)
        yield depth


def exposition() -> bytes:
    """The text `/metrics` answers: every process's event files summed, and the states now."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(settings.PROMETHEUS_MULTIPROC_DIR))
    registry.register(StateCollector())
    return generate_latest(registry)
