"""Work whose worker stopped: taken back and queued again, by a sweep that every worker runs.

Tasks are acknowledged late, so Redis hands a dead worker's task to another only after its
visibility timeout (hours: it cannot tell a long task from a dead worker). So a worker that
claims a row of work records on it who it is (its name, and its process's instance id, which
has heartbeats of its own) and a fencing number (the row's delivery count, which every claim
increments). Every worker sweeps on a timer, one at a time across all of them (a short Redis
lock): a row still claimed by an instance with no heartbeat for `WORKER_STALE_AFTER` seconds is
handed back with one guarded UPDATE (the instance and number it read must still be there, so
two sweeps hand it back once, and a claim made meanwhile is left alone) and its task is sent
again. That delivery counts as one more, so work whose workers keep dying is still given up
after the usual number of deliveries; and the steps that store or end the work check the number
they claimed, so a worker thought dead that comes back cannot finish over the newer delivery.

An app registers what its workers claim (`register`, from its AppConfig.ready): the runs and
their parts register here through reconciliation/runs/sweep.py, import jobs through
reconciliation/datasets/import_sweep.py; report builds can do the same. A claim records
`claimant()` and counts a delivery; work delivered more than `MAX_DELIVERIES` times is given up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import connections, transaction
from django.db.models import QuerySet

from config import health

logger = logging.getLogger(__name__)
LOCK_KEY = "recondesk:claim-sweep"
# An instance silent this long is gone for good: its heartbeat entry is dropped.
FORGET_INSTANCES_AFTER = 24 * 3600
# Deliveries after which work whose workers keep dying is given up (no poison loops).
MAX_DELIVERIES = 3
# The phase work handed back shows until another worker claims it.
WAITING = "waiting for another worker: its worker stopped"


def claimant(worker: str) -> dict:
    """The fields a claim records: the worker's name and its process's heartbeat id."""
    return {"worker": worker[:200], "worker_instance": health.worker_instance()}


@dataclass(frozen=True)
class Claimable:
    """A kind of work that workers claim: where it is, and how to hand it to another worker.

    `rows()`: the rows that may be held by a worker now (e.g. running runs), as a queryset.
    `fence`: the counters claims increment (the delivery count; a run also counts merges): the
    guarded update requires them unchanged.
    `hand_back(row)`: called inside the transaction of the guarded update that took the row
    back, with the row's values (pk, worker, instance, fence and `values`); it sends the task
    again on commit (`transaction.on_commit`) and may record why.
    `released`: fields also set on the row when it is taken back (e.g. a phase for the page).
    """

    name: str
    rows: Callable[[], QuerySet]
    fence: tuple[str, ...]
    hand_back: Callable[[dict], None]
    released: dict = field(default_factory=dict)
    values: tuple[str, ...] = ()
    worker: str = "worker"
    instance: str = "worker_instance"


@dataclass(frozen=True)
class HandedBack:
    kind: str
    pk: int
    worker: str
    fence: dict
    silent_for: float | None  # seconds since the instance's last heartbeat; None if it had none


_registry: dict[str, Claimable] = {}


def register(claimable: Claimable) -> None:
    """Have the sweep watch this kind of work (registering a name again replaces it)."""
    _registry[claimable.name] = claimable


def registered() -> list[Claimable]:
    return list(_registry.values())


# Periodic work of other apps, run after each sweep (so once per interval across all workers,
# with no `celery beat` to depend on): e.g. the outbox's relay, for its retries. Each should be
# quick (send a task): the sweep's thread must not wait on a slow receiver.
_after_sweep: dict[str, Callable[[], None]] = {}


def after_each_sweep(name: str, work: Callable[[], None]) -> None:
    """Have `work()` run after every sweep (registering a name again replaces it)."""
    _after_sweep[name] = work


def sweep() -> list[HandedBack]:
    """Hand back every claimed row whose worker instance has no recent heartbeat; what was."""
    beats = health.instance_heartbeats()
    now = time.time()
    handed = []
    for kind in registered():
        claimed = (
            kind.rows()
            .exclude(**{kind.instance: ""})
            .values("pk", kind.worker, kind.instance, *kind.fence, *kind.values)
        )
        for row in claimed:
            beat = beats.get(row[kind.instance])
            if beat is not None and now - beat <= settings.WORKER_STALE_AFTER:
                continue  # its worker is alive: the run is being worked on
            if _hand_back(kind, row):
                silent = None if beat is None else round(now - beat, 1)
                fence = {name: row[name] for name in kind.fence}
                handed.append(HandedBack(kind.name, row["pk"], row[kind.worker], fence, silent))
                logger.warning(
                    "%s %s: its worker %s (instance %s) sent no heartbeat for %s s; handed back "
                    "at %s", kind.name, row["pk"], row[kind.worker], row[kind.instance],
                    silent if silent is not None else "ever", fence,
                )  # fmt: skip
    health.forget_instances(
        [key for key, beat in beats.items() if now - beat > FORGET_INSTANCES_AFTER]
    )
    return handed


def _hand_back(kind: Claimable, row: dict) -> bool:
    """Take the row back if it is still held by that instance under that number; once."""
    with transaction.atomic():
        held = {"pk": row["pk"], kind.instance: row[kind.instance]}
        held.update({name: row[name] for name in kind.fence})
        taken = (
            kind.rows()
            .filter(**held)
            .update(**{kind.worker: "", kind.instance: "", **kind.released})
        )
        if taken:
            kind.hand_back(row)
    return bool(taken)


def sweep_if_due(owner: str) -> list[HandedBack] | None:
    """Sweep unless another worker did within the interval (None then)."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    # Not released after the sweep: the lock's expiry spaces the sweeps of all workers.
    if not client.set(LOCK_KEY, owner, nx=True, ex=max(1, settings.CLAIM_SWEEP_INTERVAL)):
        return None
    handed = sweep()
    for name, work in list(_after_sweep.items()):
        try:
            work()
        except Exception:  # one app's periodic work failing must not stop the others'
            logger.exception("%s, run after the sweep, failed", name)
    return handed


def sweep_periodically(owner: str, stop: threading.Event) -> None:
    """Sweep every `CLAIM_SWEEP_INTERVAL` seconds until `stop` is set (a worker's thread)."""
    # A thread, not the worker's timer: a slow database must not hold up the worker's event
    # loop (its heartbeats, its messages).
    while not stop.wait(settings.CLAIM_SWEEP_INTERVAL):
        try:
            sweep_if_due(owner)
        except Exception:  # a database or Redis outage: log it, sweep again next time
            logger.exception("the sweep for work of stopped workers failed")
        finally:
            connections.close_all()  # this thread's connections only
