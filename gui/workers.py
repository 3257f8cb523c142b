"""The one place where the GUI starts background work.

Core operations are generators of events that take a cancel token. Here they
run in superqt's thread-pool workers; their events arrive on the UI thread as
Qt signals, so widgets never touch a thread and threads never touch a widget.
Every operation is tracked, so the window can cancel and join them all on close.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import GeneratorWorker, create_worker

from datayard.core.events import Cancelled, CancelToken, Finished
from datayard.core.stepwise import release_stepwise

log = logging.getLogger(__name__)


class _Crashed(Exception):  # noqa: N818 - a carrier, not an error of its own
    def __init__(self, original: RuntimeError) -> None:
        super().__init__(str(original))
        self.original = original


class Operation(QObject):
    """A running core operation, seen from the UI thread.

    ``yielded`` carries every event except the last; ``finished`` carries the
    result of the final :class:`Finished` event (or ``None`` when the operation
    ends without one); ``failed`` carries the exception; ``cancelled`` fires
    when the user's cancel stopped it. Exactly one of the three ends it, and
    ``ended`` follows whichever it was.
    """

    yielded = Signal(object)
    finished = Signal(object)
    failed = Signal(Exception)
    cancelled = Signal()
    ended = Signal()

    _live: ClassVar[weakref.WeakSet[Operation]] = weakref.WeakSet()

    def __init__(
        self,
        run: Callable[[CancelToken], Iterator[object]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.token = CancelToken()
        self._run = run
        self._result: object = None
        self._worker: GeneratorWorker[Any, Any, Any] | None = None

    def start(self) -> Operation:
        def work() -> Iterator[object]:
            try:
                yield from self._run(self.token)
            except RuntimeError as error:
                # superqt takes a RuntimeError for a deleted Qt object and then
                # emits neither "errored" nor "finished": pass it on disguised.
                raise _Crashed(error) from error

        worker = create_worker(work, _start_thread=False, _ignore_errors=True)
        assert isinstance(worker, GeneratorWorker)
        worker.yielded.connect(self._on_event)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        Operation._live.add(self)
        worker.start()
        return self

    def cancel(self) -> None:
        """Ask the operation to stop at its next checkpoint."""
        self.token.set()

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_running

    def _on_event(self, item: object) -> None:
        if isinstance(item, Finished):
            self._result = item
        else:
            self.yielded.emit(item)

    def _on_error(self, error: Exception) -> None:
        if isinstance(error, _Crashed):
            error = error.original
        # Before emitting: a handler that shows a message box runs the event loop,
        # which delivers the worker's "finished", and that must see the error.
        self._result = error
        if isinstance(error, Cancelled):
            self.cancelled.emit()
        else:
            if not hasattr(error, "exit_code"):  # not one of ours: a bug worth a traceback
                log.error("background operation failed", exc_info=error)
            self.failed.emit(error)

    def _on_finished(self, _: object = None) -> None:
        result, self._result = self._result, None  # handed over: a big result is not kept twice
        if isinstance(result, Finished):
            self.finished.emit(result.result)
        elif not isinstance(result, Exception):
            if self.token.is_set():
                self.cancelled.emit()
            else:
                self.finished.emit(None)
        self.ended.emit()


def run_in_background(
    run: Callable[[CancelToken], Iterator[object]], parent: QObject | None = None
) -> Operation:
    """Start ``run(token)`` in a worker thread and return its :class:`Operation`."""
    return Operation(run, parent).start()


def call_in_background(function: Callable[[], object], parent: QObject | None = None) -> Operation:
    """Run a plain function (one result, no events) the same way."""

    def run(_token: CancelToken) -> Iterator[object]:
        yield Finished(function())

    return run_in_background(run, parent)


def release_in_background(garbage: list[object], parent: QObject) -> None:
    """Free what only ``garbage`` holds in a worker, a slice at a time.

    Dropping the last reference to 100,000 objects frees them in one cascade
    that holds the GIL for 50-90 ms, on whatever thread drops it. The caller
    copies a big result's items into ``garbage`` and drops its own references
    first; any it still holds just outlive the worker. ``parent`` keeps the
    operation alive until it ends.
    """

    def release(_token: CancelToken) -> Iterator[object]:
        release_stepwise(garbage)
        yield Finished(None)

    operation = run_in_background(release, parent)
    operation.ended.connect(operation.deleteLater)


def any_running() -> bool:
    """Whether background work is under way: workers building a big result, most likely."""
    return any(operation.running for operation in list(Operation._live))


def stop_all(timeout_ms: int = 10_000) -> None:
    """Cancel every operation and wait for the threads: none outlives the window.

    Each operation ends through its cancel token, so that what it started (a
    push's process, a pull's temporary files) is cleaned up before the window
    goes. superqt's own quit stops iterating a generator and leaves it
    suspended: a push's process would go on after the window closed, until
    the garbage collector closed the generator.
    """
    for operation in list(Operation._live):
        operation.cancel()
    if not QThreadPool.globalInstance().waitForDone(timeout_ms):
        log.warning("background work did not stop within %d ms; closing all the same", timeout_ms)
