"""Background operations deliver their events on the UI thread and end exactly once."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, Finished, Progress, check_cancel
from datayard.gui.workers import release_in_background, run_in_background


def counting(token: CancelToken, limit: int = 5) -> Iterator[object]:
    for index in range(limit):
        check_cancel(token)
        yield Progress("counting", index + 1, limit)
    yield Finished(f"counted {limit} on {threading.current_thread().name}")


def test_events_then_the_result_arrive_on_the_ui_thread(qtbot: QtBot) -> None:
    seen: list[tuple[int, bool]] = []
    operation = run_in_background(counting)
    operation.yielded.connect(
        lambda e: seen.append((e.done, threading.current_thread() is threading.main_thread()))
    )
    with qtbot.waitSignal(operation.finished, timeout=30_000) as finished:
        pass
    assert [done for done, _ in seen] == [1, 2, 3, 4, 5]
    assert all(on_ui for _, on_ui in seen)
    assert finished.args[0].startswith("counted 5 on ")
    assert "MainThread" not in finished.args[0]  # the work itself ran elsewhere


def test_cancel_stops_the_operation(qtbot: QtBot) -> None:
    gate = threading.Event()

    def slow(token: CancelToken) -> Iterator[object]:
        gate.set()
        while True:
            token.wait(0.01)
            check_cancel(token)
            yield Progress("waiting", 0)

    operation = run_in_background(slow)
    assert gate.wait(5)
    with qtbot.waitSignal(operation.cancelled, timeout=30_000):
        operation.cancel()
    qtbot.waitUntil(lambda: not operation.running, timeout=30_000)


@pytest.mark.parametrize("error", [UsageError("bad input"), RuntimeError("bug")])
def test_errors_are_delivered_not_raised(qtbot: QtBot, error: Exception) -> None:
    def failing(_token: CancelToken) -> Iterator[object]:
        yield Progress("starting", 0)
        raise error

    operation = run_in_background(failing)
    with qtbot.waitSignal(operation.failed, timeout=30_000) as failed:
        pass
    assert failed.args[0] is error


class Tracked:
    """Records on which thread it was freed."""

    freed_on: list[bool]

    def __del__(self) -> None:
        Tracked.freed_on.append(threading.current_thread() is threading.main_thread())


def test_an_operation_does_not_keep_the_result_it_handed_over(qtbot: QtBot) -> None:
    received: list[weakref.ref[Tracked]] = []
    Tracked.freed_on = []

    def produce(_token: CancelToken) -> Iterator[object]:
        yield Finished(Tracked())

    operation = run_in_background(produce)
    operation.finished.connect(lambda result: received.append(weakref.ref(result)))
    qtbot.waitUntil(lambda: bool(received) and not operation.running, timeout=30_000)
    qtbot.wait(10)  # the signal's own references go when the event is done
    gc.collect()
    assert received[0]() is None, "the operation still holds its result"


def test_garbage_is_freed_in_a_worker(qtbot: QtBot) -> None:
    Tracked.freed_on = []
    garbage: list[object] = [Tracked() for _ in range(5_000)]
    owner = QObject()
    release_in_background(garbage, owner)
    del garbage
    qtbot.waitUntil(lambda: len(Tracked.freed_on) == 5_000, timeout=30_000)
    assert not any(Tracked.freed_on), "some were freed on the UI thread"


def test_a_failure_shown_in_a_message_box_does_not_also_finish(qtbot: QtBot) -> None:
    def failing(_token: CancelToken) -> Iterator[object]:
        raise UsageError("no store")
        yield  # a generator, as every operation is

    seen: list[object] = []

    def show_failure(error: Exception) -> None:
        seen.append(f"failed: {error}")
        qtbot.wait(300)  # a modal message box runs the event loop like this

    operation = run_in_background(failing)
    operation.failed.connect(show_failure)
    operation.finished.connect(lambda result: seen.append(("finished", result)))
    with qtbot.waitSignal(operation.ended, timeout=30_000):
        pass
    assert seen == ["failed: no store"]
