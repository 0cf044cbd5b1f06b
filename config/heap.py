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


def freeze_loaded() -> int:
    """Load every view (through the URL configuration), collect once, freeze what is left;
    the number of objects frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view and what it uses
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
