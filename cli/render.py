"""Terminal rendering shared by every command: progress bars and errors."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from datayard.core import events
from datayard.core.checks import Check, State
from datayard.core.events import CancelToken
from datayard.core.units import size

console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)
"""Progress and messages go to stderr so that stdout stays clean for --json.

Both consoles print strings as they are written: no markup, no emoji codes.
Folder names, manifest paths and error messages come from users and from the
store, and "cats [old]" or "a[/]b" must neither lose their brackets nor stop
the command. Styles go in :class:`rich.text.Text` objects."""
out = Console(markup=False, emoji=False)

INTERRUPTED = 130
"""The exit status of a command stopped with Ctrl-C."""


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.fields[detail]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def follow(operation: Iterable[object]) -> Iterator[object]:
    """Show progress and transfer events as bars and pass every event on.

    One bar per phase; a phase whose total is not yet known shows a spinner.
    Transfers show files, bytes and the rate; the bar follows bytes.
    """
    with progress_bar() as bars:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int | None, detail: str) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(phase, total=total, detail=detail)
            bars.update(tasks[phase], completed=done, total=total, detail=detail)

        for event in operation:
            if isinstance(event, events.Progress):
                counted = f"{event.done}/{event.total}" if event.total else f"{event.done}"
                update(event.phase, event.done, event.total, counted)
            elif isinstance(event, events.Waiting):
                console.print(Text(event.reason, style="yellow"))
            elif isinstance(event, events.Transfer):
                detail = (
                    f"{event.files_done}/{event.files_total} files, "
                    f"{size(event.bytes_done)}/{size(event.bytes_total)}, "
                    f"{size(event.rate)}/s"
                )
                update(event.phase, event.bytes_done, event.bytes_total, detail)
            yield event


def print_json(value: object) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, sort_keys=False)
    sys.stdout.write("\n")


@contextmanager
def interruptible() -> Iterator[CancelToken]:
    """Ctrl-C asks the operation to stop cleanly (no half-written files); twice stops at once."""
    cancel = CancelToken()

    def stop(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


_MARKS = {State.OK: ("✓", "green"), State.WARN: ("!", "yellow"), State.FAIL: ("✗", "red")}


def show_checks(checks: Iterable[Check]) -> bool:
    """Each check on a line as it is answered, its fix below it; whether none failed."""
    passed = True
    for check in checks:
        mark, colour = _MARKS[check.state]
        line = Text.assemble((f"{mark} ", colour), (f"{check.name:<15}", "bold"), check.detail)
        if check.hint:
            line.append(f"\n  → {check.hint}", style="dim")
        out.print(line)
        passed = passed and check.state is not State.FAIL
    return passed
