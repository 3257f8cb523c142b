"""Terminal rendering shared by every command: progress bars and errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from datayard.core import events

console = Console(stderr=True, soft_wrap=True)
"""Progress and messages go to stderr so that stdout stays clean for --json."""
out = Console()


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def follow(operation: Iterable[object]) -> Iterator[object]:
    """Show :class:`events.Progress` events as bars and pass every event on.

    One bar per phase; a phase whose total is not yet known shows a spinner.
    """
    with progress_bar() as bars:
        tasks: dict[str, Any] = {}
        for event in operation:
            if isinstance(event, events.Progress):
                task = tasks.get(event.phase)
                if task is None:
                    task = tasks[event.phase] = bars.add_task(event.phase, total=event.total)
                bars.update(task, completed=event.done, total=event.total)
            yield event


def print_json(value: object) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, sort_keys=False)
    sys.stdout.write("\n")
