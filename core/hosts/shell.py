"""What checking and setting up a machine needs of it: a shell, over SSH or on this computer.

The host checks (``probe``) and the worker environment's set-up talk to a
machine only through this, so that one code serves a training host reached
over SSH and this computer alike.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from datayard.core.events import CancelToken, check_cancel

CANCEL_POLL_S = 0.25
"""How often a wait for a command's next line looks at the cancel token."""


@dataclass(frozen=True)
class Completed:
    """A command's end on the machine."""

    exit_status: int
    stdout: str
    stderr: str


class Shell(Protocol):
    """Commands run by the machine's shell; closed with :meth:`close` or as a context manager."""

    def run(self, command: str, *, input: str | None = None, timeout_s: float = 120.0) -> Completed:
        """Run ``command``; ``input`` goes to its stdin, then EOF."""
        ...

    def lines(
        self, command: str, *, input: str | None = None, cancel: CancelToken | None = None
    ) -> Iterator[str]:
        """The lines ``command`` writes on stdout, as they come; ends with the command."""
        ...

    def upload(self, local: Path, remote: str, *, timeout_s: float = 900.0) -> None:
        """Copy a file of this computer to ``remote`` there, created whole."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


def queued_lines(
    lines: queue.Queue[str | BaseException | None],
    cancel: CancelToken | None,
    failure: Callable[[BaseException], Exception],
) -> Iterator[str]:
    """The lines a reader puts in ``lines`` until it puts None, looking at ``cancel`` while
    none comes: a silent command (an installer resolving) is still cancelled at once. What
    the reader puts instead of a line is raised as ``failure`` makes it."""
    while True:
        try:
            item = lines.get(timeout=CANCEL_POLL_S)
        except queue.Empty:
            check_cancel(cancel)
            continue
        if item is None:
            return
        if isinstance(item, BaseException):
            raise failure(item) from item
        yield item
