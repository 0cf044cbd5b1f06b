"""Bulk work pauses the cycle collector and leaves it as it found it, even when it fails."""

import gc

import pytest

from config.bulk import cyclic_gc_paused


def test_the_collector_is_paused_inside_and_resumed_after():
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_resumes_when_the_work_fails():
    with pytest.raises(ValueError), cyclic_gc_paused():
        raise ValueError("bulk work failed")
    assert gc.isenabled()


def test_a_collector_someone_disabled_stays_disabled():
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
