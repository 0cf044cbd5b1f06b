"""A server process's start-up objects kept out of Python's garbage collector.

A web process holds about 150,000 objects once Django, the views and the libraries they use
are loaded, and keeps them all its life. Python's full collection walks every one of them:
about 40 ms at rest, above 100 ms in a request, once every few dozen requests. That pause was
the approvals queue's slowest responses (bench/corrections_queue.py). `gc.freeze()` moves
what exists at that moment into a generation no collection walks, so a collection only looks at
what requests create. Nothing is leaked by it: frozen objects were alive anyway.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_pause = threading.Lock()
_paused = {"depth": 0, "was_enabled": False}


def freeze_loaded() -> int:
    """Load every view (through the URL configuration), collect once, freeze what is left;
    the number of objects frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view and what it uses
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@contextmanager
def collector_paused():
    """No garbage collection inside: for work that makes a few hundred thousand objects it
    keeps (a report's content). Python starts a full collection each time the objects that
    survived grow by a quarter, and each walks all of them: four walks, 0.4 s of a 3 s
    build. What is made here holds no cycles to find; the collector resumes after, as it was.
    Nested and concurrent pauses are counted: the last to end resumes it."""
    with _pause:
        if _paused["depth"] == 0:
            _paused["was_enabled"] = gc.isenabled()
            gc.disable()
        _paused["depth"] += 1
    try:
        yield
    finally:
        with _pause:
            _paused["depth"] -= 1
            if _paused["depth"] == 0 and _paused["was_enabled"]:
                gc.enable()
