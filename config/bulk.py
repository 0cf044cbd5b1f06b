"""Helpers for work that makes hundreds of thousands of objects at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while bulk work runs, resuming it as it was after.

    The collector runs after every few hundred allocations and walks every object still alive:
    building a run's hundred thousand corrections (a row object, texts, dicts each) it ran
    hundreds of times over a growing heap, a quarter of the building time. What bulk work makes
    holds no cycles; its garbage is freed by reference counting as usual. A cycle made meanwhile
    waits for the collector's next run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
