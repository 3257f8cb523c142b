"""``datayard verify``: is every blob of a version in the store, intact?"""

from __future__ import annotations

import sys
from dataclasses import asdict

import click
from rich.table import Table
from rich.text import Text

from datayard.core.datasets.describe import count
from datayard.core.datasets.verify import VerifyResult, verify
from datayard.core.events import run_to_end

from .render import follow, out, print_json
from .versions import (
    REF_METAVAR,
    interruptible,
    json_option,
    open_store,
    profile_option,
    workers_option,
)

PATHS_SHOWN = 3
"""Paths listed per damaged blob in the table; --json lists them all."""


@click.command(name="verify")
@click.argument("dataset", metavar=REF_METAVAR)
@click.option(
    "--deep", is_flag=True, help="Also download and hash every blob (reads the whole version)."
)
@profile_option
@workers_option
@json_option
def command(
    dataset: str, deep: bool, profile_name: str | None, workers: int, as_json: bool
) -> None:
    """Check that the store holds every blob of a version of DATASET, with the right size.

    Exit status 1 when a blob is missing or damaged; the table names the files
    that use it.
    """
    store = open_store(profile_name, connections=workers)
    manifest = store.manifest(dataset)
    with interruptible() as cancel:
        operation = verify(store.bucket, manifest, deep=deep, workers=workers, cancel=cancel)
        result = run_to_end(follow(operation), VerifyResult)
    if as_json:
        print_json({**asdict(result), "intact": result.intact})
    else:
        _render(result)
    if not result.intact:
        sys.exit(1)


def _render(result: VerifyResult) -> None:
    checked = "size and content" if result.deep else "size"
    if result.intact:
        out.print(
            Text(
                f"{result.ref}: all {count(result.blobs, 'blob')} of its "
                f"{count(result.files, 'file')} are in the store with the right {checked}.",
                style="green",
            )
        )
        return
    table = Table("blob", "problem", "used by", title=Text(f"{result.ref}: damaged blobs"))
    for problem in result.problems:
        shown = "\n".join(problem.paths[:PATHS_SHOWN])
        if len(problem.paths) > PATHS_SHOWN:
            shown += f"\n... and {len(problem.paths) - PATHS_SHOWN} more"
        table.add_row(Text(problem.sha256[:16]), Text(problem.problem), Text(shown))
    out.print(table)
    out.print(
        Text(
            f"{len(result.problems)} of {count(result.blobs, 'blob')} missing or damaged; "
            "push the original files again to restore them.",
            style="red",
        )
    )
