"""Collections run on the UI thread; settling a big result freezes what lives on, not garbage."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from typing import ClassVar

import pytest
from pytestqt.qtbot import QtBot

from datayard.core.events import CancelToken, Finished
from datayard.gui import heap
from datayard.gui.heap import BIG, settle
from datayard.gui.workers import run_in_background


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


def test_a_full_collection_waits_for_background_work(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While a worker builds a big result, the old generation holds it, and a full
    # collection would walk all of it on the UI thread.
    monkeypatch.setattr(heap, "FULL_AFTER", 1)  # due after the first middle collection
    monkeypatch.setattr(heap, "PATIENCE", 10_000)  # and waiting however long it takes
    building = threading.Event()
    started: list[tuple[int, bool]] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append((info["generation"], building.is_set()))

    def build(_token: CancelToken) -> Iterator[object]:
        kept = []
        while building.is_set():
            kept.append([[index] for index in range(1_000)])
            del kept[:-50]
        yield Finished(None)

    gc.callbacks.append(record)
    try:
        building.set()
        operation = run_in_background(build)
        try:
            qtbot.waitUntil(lambda: sum(gen == 1 for gen, _ in started) >= 3, timeout=20_000)
        finally:
            building.clear()
        qtbot.waitUntil(lambda: not operation.running, timeout=10_000)
        qtbot.waitUntil(lambda: any(gen == 2 for gen, _ in started), timeout=10_000)
    finally:
        gc.callbacks.remove(record)
    assert not any(gen == 2 and during for gen, during in started), "collected during the work"
