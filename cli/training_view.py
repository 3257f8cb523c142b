"""How a run looks in the terminal: one row per epoch as it ends, a bar for the batches."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.progress import TaskID
from rich.table import Table
from rich.text import Text

from datayard.core.events import Cancelled, CancelToken
from datayard.core.training.protocol import (
    Batch,
    Ending,
    Epoch,
    Failed,
    Final,
    Finished,
    Paused,
    Preparing,
    Record,
    Setup,
    Stopped,
    TrainingEvent,
)
from datayard.core.training.runs import RunRecord, RunSummary, unstored_note
from datayard.core.units import duration, metric, size

from .render import INTERRUPTED, console, interruptible, out, progress_bar

COLUMNS = (
    ("epoch", 7),
    ("box", 7),
    ("cls", 7),
    ("dfl", 7),
    ("val box", 8),
    ("val cls", 8),
    ("P", 6),
    ("R", 6),
    ("mAP50", 6),
    ("mAP50-95", 8),
    ("time", 6),
)


def _row(cells: Iterable[str]) -> str:
    return " ".join(cell.rjust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"[:6]


def epoch_row(event: Epoch) -> str:
    train, val, metrics = event.train_losses, event.val_losses, event.metrics
    return _row(
        [
            f"{event.epoch}/{event.epochs}",
            _number(train.get("box_loss")),
            _number(train.get("cls_loss")),
            _number(train.get("dfl_loss")),
            _number(val.get("box_loss")),
            _number(val.get("cls_loss")),
            _number(metrics.get("precision")),
            _number(metrics.get("recall")),
            _number(metrics.get("mAP50")),
            _number(metrics.get("mAP50-95")),
            duration(event.seconds),
        ]
    )


def header() -> str:
    return _row(name for name, _ in COLUMNS)


def show(records: Iterable[Record]) -> TrainingEvent | None:
    """Print the run's epochs as they end; return its terminal event (None if it has none yet)."""
    last: TrainingEvent | None = None
    with progress_bar() as bars:
        task: TaskID | None = None
        for record in records:
            event = record.event
            if isinstance(event, Preparing):
                if task is None:
                    task = bars.add_task(event.phase, total=event.total, detail="")
                bars.update(task, description=event.phase, completed=event.done, total=event.total)
            elif isinstance(event, Setup):
                _show_setup(event)
            elif isinstance(event, Batch):
                if task is None:
                    task = bars.add_task("", total=event.batches, detail="")
                bars.update(
                    task,
                    description=f"epoch {event.epoch}",
                    completed=event.batch,
                    total=event.batches,
                    detail=f"box {event.losses.get('box_loss', 0):.3f}",
                )
            elif isinstance(event, Epoch):
                out.print(Text(epoch_row(event)))
            elif isinstance(event, Final):
                out.print(Text(f"best weights (epoch {event.best_epoch}) validated:"))
                out.print(Text(_final_metrics(event)))
            if event.TERMINAL:
                last = event
                out.print(Text(ending(event)))
            sys.stdout.flush()
    return last


def _show_setup(event: Setup) -> None:
    where = "resuming at" if event.start_epoch > 1 else "starting"
    out.print(
        Text(
            f"{event.run_id}: {event.model} on {event.dataset}, {event.train_images} train / "
            f"{event.val_images} val images, {len(event.class_names)} classes, batches of "
            f"{event.batch_size} on device {event.device}; {where} epoch {event.start_epoch} "
            f"of {event.epochs}"
        )
    )
    out.print(Text(header(), style="bold"))


def _final_metrics(event: Final) -> str:
    return "  ".join(f"{name} {value:.4f}" for name, value in event.metrics.items())


def ending(event: TrainingEvent) -> str:
    """The last lines for a run: what happened and what the user can do next."""
    if isinstance(event, Ending) and event.unstored:
        return f"{_ending(event)}\n{unstored_note(event.unstored)}"
    return _ending(event)


def _ending(event: TrainingEvent) -> str:
    if isinstance(event, Finished):
        early = " (stopped early: no improvement)" if event.early_stop else ""
        return (
            f"finished after {event.epochs_done} epochs{early}; weights: {', '.join(event.weights)}"
        )
    if isinstance(event, Stopped):
        return f"stopped after {event.epochs_done} epochs; weights: {', '.join(event.weights)}"
    if isinstance(event, Paused):
        if event.resumable:
            return f"paused after epoch {event.epochs_done}; continue with `datayard resume`"
        return "paused before the first epoch ended: `datayard resume` starts it over"
    if isinstance(event, Failed):
        return f"failed ({event.reason}): {event.message}"
    return ""


def follow(records: Callable[[CancelToken], Iterable[Record]], run_id: str) -> TrainingEvent | None:
    """Show the run live as ``records`` (given the follower's cancel token) come; Ctrl-C
    leaves it running and says how to come back.

    Ctrl-C cancels the follower, which checks between its waits: a KeyboardInterrupt
    raised wherever the signal finds the main thread can be lost (inside a finalizer,
    whose exceptions Python only reports), and the command would then watch on.
    """
    try:
        with interruptible() as cancel:
            return show(records(cancel))
    except (Cancelled, KeyboardInterrupt):
        console.print(
            f"run {run_id} goes on in the background: "
            f"`datayard logs {run_id} --follow` to watch it, "
            f"`datayard stop {run_id}` to stop it"
        )
        raise SystemExit(INTERRUPTED) from None


def summary_cells(record: RunRecord, summary: RunSummary, where: str) -> list[str]:
    best = "-" if summary.best_map is None else f"{summary.best_map:.4f}"
    spent = "-" if summary.duration is None else duration(summary.duration)
    return [
        record.run_id,
        record.name or "-",
        summary.label,
        where,
        record.dataset,
        record.spec.model,
        f"{summary.epochs_done}/{summary.epochs}",
        best,
        spent,
    ]


def runs_table(rows: list[list[str]]) -> Table:
    table = Table()
    for name in (
        "run",
        "name",
        "status",
        "where",
        "dataset",
        "model",
        "epochs",
        "best mAP50-95",
        "duration",
    ):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def exports_table(exports: Sequence[dict[str, Any]]) -> Table:
    """The smaller models exported from the run, with their validation where it was made."""
    table = Table("file", "model", "size", "mAP50", "mAP50-95", title=Text("Exports"))
    table.title_justify = "left"
    for export in exports:
        scores = export.get("metrics", {})
        table.add_row(
            Text(export["file"]),
            export.get("label", ""),
            size(export["bytes"]),
            *(metric(scores[key]) if key in scores else "" for key in ("mAP50", "mAP50-95")),
        )
    return table


def class_table(classes: dict[str, dict[str, float]]) -> Table:
    """The final validation per class, with Ultralytics' columns (Box-P, mAP50, ...)."""
    columns = list(dict.fromkeys(key for row in classes.values() for key in row))
    table = Table("class", *columns, title=Text("Per class"), title_justify="left")
    for name, row in classes.items():
        cells = [metric(row[column]) if column in row else "" for column in columns]
        table.add_row(Text(name), *cells)
    return table
