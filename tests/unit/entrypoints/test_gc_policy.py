"""The run's garbage-collector policy: setup frozen during the block, cycles still collected."""

from __future__ import annotations

import gc
import weakref

from entrypoints.gc_policy import setup_frozen


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_setup_frozen_when_block_runs_then_setup_frozen_and_new_cycles_collected() -> None:
    before = _Node()
    before_ref = weakref.ref(before)
    with setup_frozen():
        assert gc.get_freeze_count() > 0
        del before
        gc.collect()
        assert before_ref() is not None  # frozen: left alone during the run
        during = _Node()
        during_ref = weakref.ref(during)
        del during
        gc.collect()
        assert during_ref() is None  # made during the run: collected as usual
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert before_ref() is None  # given back after the run: collected


def test_setup_frozen_when_block_raises_then_unfrozen() -> None:
    try:
        with setup_frozen():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
