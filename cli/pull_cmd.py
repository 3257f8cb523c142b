"""``datayard pull``: a dataset version as a ready-to-train folder."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import click
from rich.text import Text

from datayard.core.datasets.describe import count
from datayard.core.datasets.pull import DEFAULT_WORKERS, PullResult, pull
from datayard.core.events import FileFailed, run_to_end
from datayard.core.paths import AppDirs
from datayard.core.units import size

from .render import console, follow, interruptible, out, print_json
from .versions import (
    REF_METAVAR,
    json_option,
    open_store,
    profile_option,
    workers_option,
)


@click.command(name="pull")
@click.argument("dataset", metavar=REF_METAVAR)
@click.argument("destination", type=click.Path(path_type=Path, file_okay=False))
@profile_option
@workers_option(DEFAULT_WORKERS)
@json_option
def command(
    dataset: str, destination: Path, profile_name: str | None, workers: int, as_json: bool
) -> None:
    """Download a version of DATASET into DESTINATION, with a data.yaml to train from.

    Files already there with the right content are kept, so running the same
    command again finishes an interrupted pull. Files of DESTINATION that are
    not part of the version are left alone. Exit status 1 when some files
    could not be pulled.
    """
    store = open_store(profile_name, connections=workers)
    manifest = store.manifest(dataset)
    database = AppDirs.default().ensure().database
    with interruptible() as cancel:
        operation = pull(
            store.bucket, manifest, destination, workers=workers, database=database, cancel=cancel
        )
        result = run_to_end(_report_failures(follow(operation)), PullResult)
    if as_json:
        print_json(
            {
                "ref": result.ref,
                "destination": str(result.destination),
                "data_yaml": str(result.data_yaml),
                "files": result.files,
                "downloaded": result.downloaded,
                "skipped": result.skipped,
                "downloaded_bytes": result.downloaded_bytes,
                "extra_files": result.extra_files,
                "failures": [{"path": f.path, "error": f.error} for f in result.failures],
            }
        )
    else:
        _render(result)
    if result.failures:
        sys.exit(1)


def _report_failures(events: Iterable[object]) -> Iterator[object]:
    for event in events:
        if isinstance(event, FileFailed):
            console.print(Text(f"failed: {event.path}: {event.error}", style="yellow"))
        yield event


def _render(result: PullResult) -> None:
    out.print(
        Text(
            f"{result.ref} -> {result.destination}: {count(result.downloaded, 'file')} "
            f"downloaded ({size(result.downloaded_bytes)}), {result.skipped} already there"
        )
    )
    if result.extra_files:
        out.print(
            Text(
                f"{count(result.extra_files, 'other file')} in the folder, not part of this "
                "version: left alone"
            )
        )
    out.print(Text(f"Train with: data={result.data_yaml}"))
    if result.failures:
        console.print(
            Text(
                f"{count(len(result.failures), 'file')} could not be pulled (listed above); "
                "run the same command again to retry",
                style="red",
            )
        )
