"""``datayard datasets``: every dataset in the store, with its versions."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from datayard.core.datasets.catalog import group_versions
from datayard.core.datasets.describe import summary
from datayard.core.units import size

from .render import console, out, print_json
from .versions import history_json, json_option, open_store, print_unreadable, profile_option


@click.command(name="datasets")
@profile_option
@json_option
def command(profile_name: str | None, as_json: bool) -> None:
    """List the datasets in the store and their versions, oldest first.

    A version that cannot be read is marked, with the reason, after the others.
    """
    store = open_store(profile_name)
    datasets = group_versions(store.catalog.stored_versions())
    if as_json:
        print_json([history_json(dataset, summary) for dataset in datasets])
        return
    if not datasets:
        console.print(
            f"No datasets in bucket {store.bucket.name!r} yet; push a folder with 'datayard push'."
        )
        return
    table = Table()
    table.add_column("dataset", overflow="fold")
    table.add_column("", no_wrap=True)
    for column in ("version", "created", "pushed by", "classes"):
        table.add_column(column, overflow="fold")  # a narrow terminal folds, never cuts, ids
    for column in ("files", "size"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("message", overflow="fold")
    for dataset, manifest in ((d, m) for d in datasets for m in d.versions):
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    f"{manifest.owner}/{manifest.name}",
                    f"v{dataset.number(manifest)}",
                    manifest.id,
                    manifest.created,
                    manifest.pushed_by,
                    ", ".join(manifest.class_names),
                    str(len(manifest.files)),
                    size(manifest.total_bytes),
                    manifest.message,
                )
            )
        )
    out.print(table)
    print_unreadable(datasets)
