"""GUI tests fail when they leave a worker thread running: the app must join its threads."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QThreadPool


@pytest.fixture(autouse=True)
def no_leaked_threads(qapp: object) -> Iterator[None]:
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


@pytest.fixture(autouse=True)
def collector_unfrozen() -> Iterator[None]:
    """A big folder or inspection freezes the heap (gui.heap): not for the next test."""
    yield
    gc.unfreeze()
