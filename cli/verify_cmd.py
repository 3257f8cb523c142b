"""``datayard verify``: is every blob of a version in the store, intact?"""

from __future__ import annotations

import sys
from dataclasses import asdict

import click
from rich.table import Table
from rich.text import Text

from datayard.core.datasets.describe import count
from datayard.core.datasets.repair import RepairResult
from datayard.core.datasets.repair import repair as repair_version
from datayard.core.datasets.verify import DEFAULT_WORKERS, VerifyResult, verify
from datayard.core.errors import UsageError
from datayard.core.events import run_to_end
from datayard.core.store.workspace import Workspace

from .render import follow, interruptible, out, print_json
from .versions import (
    REF_METAVAR,
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
@click.option(
    "--repair",
    is_flag=True,
    help="With --deep: store lost blobs again from the files they were pushed from, where "
    "those are readable here and unchanged; list the files to push again otherwise.",
)
@profile_option
@workers_option(DEFAULT_WORKERS)
@json_option
def command(
    dataset: str,
    deep: bool,
    repair: bool,
    profile_name: str | None,
    workers: int,
    as_json: bool,
) -> None:
    """Check that the store holds every blob of a version of DATASET, with the right size.

    With --deep, every blob is also downloaded and hashed, and a damaged one is
    set aside, so that pushing its file again restores it. Exit status 1 when
    a blob is missing or damaged (and, with --repair, could not be restored);
    the table names the files that use it.
    """
    if repair and not deep:
        raise UsageError("--repair needs --deep: only a deep check finds damaged blobs")
    store = open_store(profile_name, connections=workers)
    manifest = store.manifest(dataset)
    with interruptible() as cancel:
        if repair:
            database = Workspace.default().dirs.database
            repairing = repair_version(
                store.bucket, manifest, database=database, workers=workers, cancel=cancel
            )
            repaired = run_to_end(follow(repairing), RepairResult)
            result = repaired.verified
        else:
            operation = verify(store.bucket, manifest, deep=deep, workers=workers, cancel=cancel)
            result = run_to_end(follow(operation), VerifyResult)
    if as_json:
        report = {**asdict(result), "intact": result.intact}
        if repair:
            report["restored"] = [asdict(r) for r in repaired.restored]
            report["lost"] = {sha: list(paths) for sha, paths in repaired.sources.items()}
        print_json(report)
    else:
        _render(result)
        if repair:
            _render_repair(repaired)
    if not (repaired.intact if repair else result.intact):
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
            "push the original files again to restore them ('--deep --repair' does so "
            "where they are readable here).",
            style="red",
        )
    )


def _render_repair(result: RepairResult) -> None:
    for restored in result.restored:
        out.print(Text(f"restored {restored.sha256[:16]} from {restored.source}", style="green"))
    if result.intact:
        if result.restored:
            out.print(Text(f"Repaired: {count(len(result.restored), 'blob')} stored again."))
        return
    out.print(
        Text(
            f"{count(len(result.lost), 'blob')} could not be restored here; push these files "
            f"again (on {result.source_host}):",
            style="red",
        )
    )
    for paths in result.sources.values():
        out.print(Text(f"  {paths[0]}"))
