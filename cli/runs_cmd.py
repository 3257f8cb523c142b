"""Runs on this machine: list, watch, stop, pause, resume, fetch their results."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.text import Text

from datayard.core.errors import UsageError
from datayard.core.hosts.registry import LOCAL_HOST
from datayard.core.training.backends import Backends
from datayard.core.training.fetch import fetch_run
from datayard.core.training.protocol import Failed
from datayard.core.training.runs import EventLog, RunFolder
from datayard.core.units import size

from . import training_view
from .render import console, out, print_json
from .versions import json_option, open_store, profile_option

RUN_METAVAR = "RUN"
"""A run id, a unique prefix of one, or ``last``."""


def _open(run: str) -> tuple[Backends, RunFolder]:
    backend = Backends.default()
    return backend, backend.registry.get(run)


@click.command(name="runs")
@json_option
def command(as_json: bool) -> None:
    """List the training runs launched from this machine, newest first."""
    backend = Backends.default()
    rows = [
        (folder.record(), backend.summary(folder), backend.where(folder))
        for folder in backend.registry
    ]
    if as_json:
        print_json(
            [
                {
                    "run": record.run_id,
                    "status": summary.status.value,
                    "where": where,
                    "dataset": record.dataset,
                    "model": record.spec.model,
                    "epochs_done": summary.epochs_done,
                    "epochs": summary.epochs,
                    "best_map50_95": summary.best_map,
                    "duration_s": summary.duration,
                    "message": summary.message,
                    "unstored": list(summary.unstored),
                }
                for record, summary, where in rows
            ]
        )
        return
    if not rows:
        console.print("no runs yet: start one with `datayard train DATASET`")
        return
    out.print(training_view.runs_table([training_view.summary_cells(r, s, w) for r, s, w in rows]))


@click.command(name="logs")
@click.argument("run", metavar=RUN_METAVAR)
@click.option("--follow", "-f", "keep_following", is_flag=True, help="Keep watching until it ends.")
def logs(run: str, keep_following: bool) -> None:
    """Show a run's metrics, one row per epoch; with --follow, live until it ends."""
    backend, folder = _open(run)
    if keep_following:
        last = training_view.follow(backend, folder)
    else:
        last = training_view.show(EventLog(folder.events_file).read_new())
        if last is None:
            summary = folder.summary()
            console.print(
                f"{summary.status.value}: epoch {summary.epochs_done} of {summary.epochs}"
            )
    if isinstance(last, Failed):
        sys.exit(1)


@click.command(name="stop")
@click.argument("run", metavar=RUN_METAVAR)
@click.option("--kill", is_flag=True, help="End the worker at once, without saving.")
def stop(run: str, kill: bool) -> None:
    """Finish a run now: the current batch ends, the weights are validated and saved."""
    backend, folder = _open(run)
    if kill:
        backend.kill(folder)
        console.print(f"run {folder.run_id} killed")
        return
    backend.stop(folder)
    _wait_for_end(backend, folder)


@click.command(name="pause")
@click.argument("run", metavar=RUN_METAVAR)
def pause(run: str) -> None:
    """Pause a run so that `datayard resume` continues it from its last full epoch."""
    backend, folder = _open(run)
    backend.pause(folder)
    _wait_for_end(backend, folder)


@click.command(name="resume")
@click.argument("run", metavar=RUN_METAVAR)
@click.option("--detach", is_flag=True, help="Resume and return; follow with `datayard logs`.")
def resume(run: str, detach: bool) -> None:
    """Continue a paused run, or one that failed after a full epoch, from its last checkpoint.

    A failed run's checkpoint is its own last.pt, or the store's copy when that is gone.
    """
    backend, folder = _open(run)
    first_new = folder.next_seq()
    backend.resume(folder)
    console.print(f"run {folder.run_id} resumed")
    if not detach:
        last = training_view.follow(backend, folder, from_seq=first_new)
        if isinstance(last, Failed):
            sys.exit(1)


def _wait_for_end(backend: Backends, folder: RunFolder) -> None:
    console.print(f"waiting for run {folder.run_id} to save and end...")
    last = None
    for record in backend.follow(folder):
        last = record.event
    if last is not None:
        out.print(Text(training_view.ending(last)))


@click.command(name="fetch")
@click.argument("run", metavar=RUN_METAVAR)
@click.argument("destination", type=click.Path(path_type=Path, file_okay=False))
@profile_option
def fetch(run: str, destination: Path, profile_name: str | None) -> None:
    """Copy a run's weights and results into DESTINATION.

    From this machine's run folder when it is here, else from the store, so
    runs launched elsewhere can be fetched by id.
    """
    backend = Backends.default()
    try:
        folder: RunFolder | None = backend.registry.get(run)
    except UsageError:
        folder = None
    if folder is not None and backend.where(folder) != LOCAL_HOST:
        folder = None  # its files are on its host: the store's copy of them is fetched
    run_id = folder.run_id if folder else run
    bucket = None if folder else open_store(profile_name).bucket
    copied = fetch_run(run_id, destination, folder=folder, bucket=bucket)
    total = sum(p.stat().st_size for p in copied)
    out.print(Text(f"{len(copied)} files ({size(total)}) of run {run_id} in {destination}"))
    for path in copied:
        if path.suffix == ".pt":
            out.print(Text(f"  {path}"))
