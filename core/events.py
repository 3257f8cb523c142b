"""Shared shapes for long operations.

Long operations are generators of frozen event dataclasses that take a cancel
token. The CLI renders the events as progress bars; the GUI forwards them as Qt
signals from a worker thread. Cancellation is cooperative: the operation checks
the token between units of work and stops cleanly, leaving caches consistent.
Progress is sent when a :class:`Throttle` says so, so that a fast loop does not
flood its UI.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

CancelToken = threading.Event
"""Set it to ask a running operation to stop at its next checkpoint."""


class Cancelled(Exception):  # noqa: N818 - it is a signal, not a failure
    """Raised inside an operation when its cancel token was set."""


Checkpoint = Callable[[str], None]
"""Called by an operation with the name of each step of its protocol as it ends
it ("lock-written", "markers-read", ...): a caller can run another operation
at that exact point, which is how the tests drive two operations through every
interleaving that matters without sleeping."""


def check_cancel(token: CancelToken | None) -> None:
    """Stop the current operation if the user asked to cancel."""
    if token is not None and token.is_set():
        raise Cancelled


@dataclass(frozen=True)
class Progress:
    """Work done so far in one phase of an operation.

    ``total`` is ``None`` while it is still unknown (a walk in progress).
    """

    phase: str
    done: int
    total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    current: str = ""


THROTTLE_INTERVAL_S = 0.1
"""Ten updates a second is smooth for a bar and cheap for a Qt signal."""


class Throttle:
    """Says when enough time has passed since the last event to send another.

    The first call is always due, so a user sees the work start at once.
    """

    def __init__(self, interval_s: float = THROTTLE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last = -math.inf

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._interval_s:
            return False
        self._last = now
        return True


@dataclass(frozen=True)
class Finished(Generic[T]):
    """The last event of an operation, carrying its result."""

    result: T


def run_to_end(events: Iterable[object], result_type: type[T]) -> T:
    """Drain an operation's events and return its result, for callers without a UI."""
    for event in events:
        if isinstance(event, Finished) and isinstance(event.result, result_type):
            return event.result
    raise RuntimeError("the operation ended without a result")


def relay(events: Iterable[object], result_type: type[T]) -> Generator[Progress, None, T]:
    """Pass a sub-operation's progress on and return its result: ``yield from relay(...)``."""
    for event in events:
        if isinstance(event, Finished) and isinstance(event.result, result_type):
            return event.result
        if isinstance(event, Progress):
            yield event
    raise RuntimeError("the operation ended without a result")


@dataclass(frozen=True)
class Transfer:
    """Progress of a transfer of many files, with the rate and ETA a user asks for."""

    phase: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    elapsed: float
    current: str = ""

    @property
    def rate(self) -> float:
        """Bytes per second since the transfer started."""
        return self.bytes_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate; ``None`` until there is a rate."""
        if self.rate <= 0:
            return None
        return max(self.bytes_total - self.bytes_done, 0) / self.rate


@dataclass(frozen=True)
class Waiting:
    """The operation waits for another one to finish; ``reason`` says which, for people."""

    reason: str


@dataclass(frozen=True)
class FileFailed:
    """One file could not be transferred; the others go on."""

    path: str
    error: str
