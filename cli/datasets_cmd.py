"""``datayard datasets``: every dataset in the store, with its versions."""

from __future__ import annotations

from itertools import groupby

import click
from rich.table import Table
from rich.text import Text

from datayard.core.datasets.describe import summary
from datayard.core.units import size

from .render import console, out, print_json
from .versions import json_option, open_store, profile_option


@click.command(name="datasets")
@profile_option
@json_option
def command(profile_name: str | None, as_json: bool) -> None:
    """List the datasets in the store and their versions, oldest first."""
    store = open_store(profile_name)
    manifests = store.catalog.all_manifests()
    if as_json:
        print_json(
            [
                {"owner": owner, "name": name, "versions": [summary(m) for m in versions]}
                for (owner, name), versions in groupby(manifests, lambda m: (m.owner, m.name))
            ]
        )
        return
    if not manifests:
        console.print(
            f"No datasets in bucket {store.bucket.name!r} yet; push a folder with 'datayard push'."
        )
        return
    table = Table()
    for column in ("dataset", "version", "created", "pushed by", "classes"):
        table.add_column(column, overflow="fold")  # a narrow terminal folds, never cuts, ids
    for column in ("files", "size"):
        table.add_column(column, justify="right", no_wrap=True)
    for manifest in manifests:
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    f"{manifest.owner}/{manifest.name}",
                    manifest.id,
                    manifest.created,
                    manifest.pushed_by,
                    ", ".join(manifest.class_names),
                    str(len(manifest.files)),
                    size(manifest.total_bytes),
                )
            )
        )
    out.print(table)
