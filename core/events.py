"""Shared shapes for long operations.

Long operations are generators of frozen event dataclasses that take a cancel
token. The CLI renders the events as progress bars; the GUI forwards them as Qt
signals from a worker thread. Cancellation is cooperative: the operation checks
the token between units of work and stops cleanly, leaving caches consistent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

CancelToken = threading.Event
"""Set it to ask a running operation to stop at its next checkpoint."""


class Cancelled(Exception):  # noqa: N818 - it is a signal, not a failure
    """Raised inside an operation when its cancel token was set."""


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
