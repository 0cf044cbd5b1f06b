"""Making a function slow, so that a test can press a button twice while it runs."""

from __future__ import annotations

import time


def slowed(monkeypatch, module, name: str, seconds: float = 0.4):
    """Make a service take a while, so that the second request arrives while the first runs."""
    original = getattr(module, name)

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)
