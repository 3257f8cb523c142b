"""Garbage collection for a Qt process: only on the UI thread, and not over big results.

Two things go wrong with CPython's automatic collector in a Qt app with worker
threads. A collection runs in whichever thread allocates when a threshold is
passed; when a worker's collection frees a widget caught in a reference cycle,
the widget is destroyed off the UI thread, and the UI thread, waiting on a Qt
lock the worker holds, can deadlock against it over the GIL (seen in a test
run: a QMenu freed by a push worker's collection). And a full collection walks
every tracked object: with a 100,000-row folder and an inspection of it in
memory it took 100-410 ms, while the UI thread waited.

So automatic collection is off and :class:`UiThreadCollector` collects on the
UI thread from a timer, in steps sized to stall it briefly; and once a big
result is in place, :func:`settle` freezes what is alive out of the collector's
reach. Tree rows and inspected images hold no reference cycles: reference
counting alone frees them when they go.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

BIG = 5_000
"""Rows or images from which a result is worth settling."""
INTERVAL_MS = 5
"""Often enough that each young collection holds only what workers allocated in a few
milliseconds. A tick with little to collect costs a few microseconds."""
MIDDLE_MS = 2.0
"""Young collections' time after which the middle generation is collected. Its objects have
left the processor's caches, so it costs more than they did: in an inspection of 100,000
images it took 5-21 ms at 2 ms, 8-37 ms at 4 ms."""
FULL_AFTER = 100
"""Middle collections before a full one is considered, as CPython's third threshold."""
OLD_SHARE = 0.25
"""As CPython: a full collection waits until the old generation has grown by that share
since the last one (counted here in collection time), so that its cost is paid rarely."""
QUIET_TICKS = 100
"""Ticks without background work that a due full collection waits for: by then the result
the work made has been settled. Right as an inspection of 100,000 images ended, one took 105 ms."""
PATIENCE = 10
"""How many times ``FULL_AFTER`` a due full collection waits for the workers at most:
one that follows a training for hours must not keep the cycles it makes forever."""


class UiThreadCollector(QObject):
    """Turns automatic collection off, and collects on its timer instead, until stopped.

    Each generation is collected once the collections of the younger one have
    taken long enough, which bounds how long one collection stalls the UI. CPython's
    own counters cannot: its count of the young generation is allocations minus
    deallocations of any generation, so it stays low while a worker builds one big
    result and frees another, and the collection it finally asks for stalled the UI
    thread for 35-75 ms. Counting the generations' objects (``gc.get_objects``)
    would expose a worker's half-built tuple, and that worker then fails.

    A full collection walks the old generation, which holds, while a worker builds
    a big result, all of it (a full collection amid an inspection of 100,000 images
    took 180 ms). So a due one waits until ``busy()`` has said for a while that no
    work runs; by then a big result has been settled (:func:`settle`) out of the
    collection's reach.
    """

    def __init__(
        self, parent: QObject | None = None, busy: Callable[[], bool] = lambda: False
    ) -> None:
        super().__init__(parent)
        gc.disable()
        self._busy = busy
        self._quiet_ticks = 0
        self._young_ms = 0.0
        self._middle_ms = 0.0
        self._full_ms = 0.0
        self._middle_collections = 0
        self._timer = QTimer(self, interval=INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()

    def collect_due(self) -> None:
        """The young generation every tick; the older ones once that has been worth it."""
        if self._young_ms < MIDDLE_MS:
            self._young_ms += _timed_collection(0)
        else:  # the young generation with it: two collections in one tick would stall longer
            self._young_ms = 0.0
            self._middle_ms += _timed_collection(1)
            self._middle_collections += 1
        if self._full_due():
            self._full_ms = _timed_collection(2)
            self._middle_ms = 0.0
            self._middle_collections = self._quiet_ticks = 0

    def _full_due(self) -> bool:
        """Asks ``busy()`` only once CPython's rules are met, not at every tick."""
        if self._middle_collections < FULL_AFTER or self._middle_ms <= OLD_SHARE * self._full_ms:
            return False
        self._quiet_ticks = 0 if self._busy() else self._quiet_ticks + 1
        quiet = self._quiet_ticks >= QUIET_TICKS
        return quiet or self._middle_collections >= FULL_AFTER * PATIENCE


def _timed_collection(generation: int) -> float:
    """Collect ``generation`` (and the younger ones); how long it took, in milliseconds."""
    start = time.perf_counter()
    gc.collect(generation)
    return (time.perf_counter() - start) * 1000


def settle(count: int) -> None:
    """Move what is alive now out of the collector's reach, after a result of ``count`` items.

    Young garbage is collected first (a few milliseconds), so that what is frozen
    is what lives on, not cycles about to be found.
    """
    if count >= BIG:
        gc.collect(1)
        gc.freeze()


def settle_soon(count: int, context: QObject) -> None:
    """:func:`settle` in a turn of the event loop of its own, after the work that made the
    result: the two together would be one longer stall."""
    QTimer.singleShot(0, context, lambda: settle(count))
