"""A web server process freezes its start-up objects (config/heap.py), tried through the module
gunicorn loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json, sys
import config.wsgi
gc.collect()
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "walked": len(gc.get_objects()),
    "views_loaded": {"corrections.views", "reconciliation.breaks.views"} <= set(sys.modules),
}))
"""


def test_the_wsgi_module_loads_the_views_and_freezes_what_they_hold():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["views_loaded"]
    # Django, the views and their libraries: well over 100,000 objects, none walked any more.
    assert figures["frozen"] > 100_000
    assert figures["walked"] < figures["frozen"] / 100


def test_a_paused_collector_resumes_after_the_outermost_pause_only():
    import gc

    from config.heap import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause's end is not the outer one's
    assert gc.isenabled()


def test_a_pause_ends_on_an_error_and_leaves_a_disabled_collector_disabled():
    import gc

    import pytest

    from config.heap import collector_paused

    with pytest.raises(ValueError), collector_paused():
        raise ValueError("inside")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # whoever disabled it enables it
    finally:
        gc.enable()
