"""GUI tests fail when they leave a worker thread running: the app must join its threads."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QThreadPool

from datayard.gui.heap import UiThreadCollector
from datayard.gui.workers import any_running


@pytest.fixture(autouse=True)
def collected_on_the_ui_thread(qapp: object) -> Iterator[None]:
    """As in the app (gui.heap): a worker's collection must not free a widget of an
    earlier test off the UI thread. What a test froze and left is collected here."""
    collector = UiThreadCollector(busy=any_running)
    yield
    collector.stop()
    gc.unfreeze()
    gc.collect()


@pytest.fixture(autouse=True)
def no_leaked_threads(qapp: object, collected_on_the_ui_thread: None) -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    pool = QThreadPool.globalInstance()
    # Widgets closed by the test have been asked to stop their work; a worker
    # still running a few seconds later is one nobody will stop.
    assert pool.waitForDone(10_000), f"{pool.activeThreadCount()} Qt worker thread(s) leaked"
    leaked = [
        t
        for t in set(threading.enumerate()) - before
        if t.is_alive() and not t.daemon and not t.name.startswith("Dummy")
    ]
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"
