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
UI thread from a timer, as CPython's thresholds would; and once a big result
is in place, :func:`settle` freezes what is alive out of the collector's reach.
Tree rows and inspected images hold no reference cycles: reference counting
alone frees them when they go.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

BIG = 5_000
"""Rows or images from which a result is worth settling."""
INTERVAL_MS = 5
"""Often enough that the young generation stays near its threshold while workers allocate:
at 50 ms the longest stall inspecting 100,000 images was 87-103 ms, at 10 ms 47-68 ms,
at 5 ms 40-66 ms. A tick that finds nothing due costs one ``gc.get_count()``."""
THRESHOLDS = (2_000, 10, 100)
"""As the automatic collector's. Young collections every 2,000 allocations keep the
middle generation small: at 20,000, one collection of it took 25-90 ms."""


class UiThreadCollector(QObject):
    """Turns automatic collection off, and collects on its timer instead, until stopped."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        gc.disable()
        self._timer = QTimer(self, interval=INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()

    @staticmethod
    def collect_due() -> None:
        """The generations the automatic collector would have collected by now."""
        young, middle, old = gc.get_count()
        if young < THRESHOLDS[0]:
            return
        generation = 0
        if middle >= THRESHOLDS[1]:
            generation = 2 if old >= THRESHOLDS[2] else 1
        gc.collect(generation)


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
