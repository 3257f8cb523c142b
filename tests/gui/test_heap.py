"""Settling a big result freezes what lives on, but not garbage waiting to be collected."""

from __future__ import annotations

import gc
import weakref

from datayard.gui.heap import BIG, settle


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_settling_a_big_result_freezes_the_live_objects_only() -> None:
    kept = Node()
    dropped = weakref.ref(Node())  # garbage, in a cycle
    before = gc.get_freeze_count()
    settle(BIG)
    assert dropped() is None, "garbage was frozen instead of collected"
    assert gc.get_freeze_count() > before
    assert not any(found is kept for found in gc.get_objects())  # out of the collector's reach


def test_a_small_result_is_left_alone() -> None:
    before = gc.get_freeze_count()
    settle(BIG - 1)
    assert gc.get_freeze_count() == before
