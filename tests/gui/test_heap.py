"""Collections run on the UI thread; settling a big result freezes what lives on, not garbage."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import ClassVar

from pytestqt.qtbot import QtBot

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


class Cycle:
    """Garbage only the collector frees; it records on which thread."""

    freed_on_ui: ClassVar[list[bool]] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.freed_on_ui.append(threading.current_thread() is threading.main_thread())


def test_a_workers_garbage_is_collected_on_the_ui_thread(qtbot: QtBot) -> None:
    # The GUI tests run with the app's collector (conftest), as the app does.
    Cycle.freed_on_ui = []
    worker = threading.Thread(target=lambda: [Cycle() for _ in range(20_000)])
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(Cycle.freed_on_ui) == 20_000, timeout=10_000)
    assert all(Cycle.freed_on_ui), "a collection ran in the worker"
