"""``datayard gc``: delete the blobs that no dataset or model version uses."""

from __future__ import annotations

import sys

import click
from rich.text import Text

from datayard.core.datasets.describe import count
from datayard.core.events import run_to_end
from datayard.core.units import size
from datayard.core.upkeep.gc import DEFAULT_WORKERS, STALE_PUSH, GcResult, collect_garbage

from .render import console, follow, interruptible, out, print_json
from .versions import (
    json_option,
    open_store,
    profile_option,
    workers_option,
)


@click.command(name="gc")
@profile_option
@click.option("--delete", is_flag=True, help="Delete the unused blobs; without it, only list them.")
@click.option(
    "--ignore-stale-pushes",
    is_flag=True,
    help=f"Do not protect the blobs of pushes that started over {STALE_PUSH.days} days ago.",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="With --delete: wait for the pushes in progress on the store, or refuse at once.",
)
@workers_option(DEFAULT_WORKERS)
@json_option
def command(
    profile_name: str | None,
    delete: bool,
    ignore_stale_pushes: bool,
    wait: bool,
    workers: int,
    as_json: bool,
) -> None:
    """Find the blobs no version of any dataset or model uses, and delete them with --delete.

    Blobs of pushes in progress are kept: a deleting gc has the store to
    itself, waiting for the pushes in progress to finish (and saying so), and
    pushes that start meanwhile wait for it. If any version cannot be read,
    nothing is deleted.
    """
    store = open_store(profile_name, connections=workers)
    with interruptible() as cancel:
        operation = collect_garbage(
            store.bucket,
            delete=delete,
            ignore_stale_pushes=ignore_stale_pushes,
            workers=workers,
            wait=wait,
            cancel=cancel,
        )
        result = run_to_end(follow(operation), GcResult)
    if as_json:
        print_json(
            {
                "dry_run": not delete,
                "stored_blobs": result.stored_blobs,
                "stored_bytes": result.stored_bytes,
                "versions": result.versions,
                "model_versions": result.models,
                "unreferenced": [{"sha256": s, "size": n} for s, n in result.unreferenced],
                "unreferenced_bytes": result.unreferenced_bytes,
                "deleted": list(result.deleted),
                "failed": list(result.failed),
                "pushes_in_progress": [
                    {
                        "key": m.key,
                        "host": m.host,
                        "started": m.started,
                        "blobs": len(m.blobs),
                        "stale": m.stale,
                    }
                    for m in result.markers
                ],
            }
        )
    else:
        _render(result, delete, ignore_stale_pushes)
    if result.failed:
        sys.exit(1)


def _render(result: GcResult, delete: bool, ignore_stale: bool) -> None:
    for marker in result.markers:
        if marker.stale:
            kept = "ignored" if ignore_stale else "still kept (--ignore-stale-pushes drops them)"
            console.print(
                Text(
                    f"push marker {marker.key} (from {marker.host or '?'}, started "
                    f"{marker.started or '?'}) is over {STALE_PUSH.days} days old; "
                    f"its {count(len(marker.blobs), 'blob')}: {kept}",
                    style="yellow",
                )
            )
    out.print(
        Text(
            f"{count(result.stored_blobs, 'blob')} stored ({size(result.stored_bytes)}), "
            f"used by {count(result.versions, 'dataset version')}, "
            f"{count(result.models, 'model version')} and "
            f"{count(len(result.markers), 'push marker')}."
        )
    )
    unused = count(len(result.unreferenced), "unused blob")
    freed = size(result.unreferenced_bytes)
    if not delete:
        out.print(Text(f"{unused} ({freed}) would be deleted."))
        if result.unreferenced:
            out.print(Text("Run 'datayard gc --delete' to delete them."))
        return
    out.print(Text(f"Deleted {count(len(result.deleted), 'unused blob')} ({freed})."))
    if result.failed:
        console.print(
            Text(
                f"The store did not delete {count(len(result.failed), 'blob')}; run gc again.",
                style="red",
            )
        )
