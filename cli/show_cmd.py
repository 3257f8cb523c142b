"""``datayard show``: one dataset version, its origin, splits and classes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from datayard.core.datasets.describe import parent_text, summary
from datayard.core.datasets.history import numbers
from datayard.core.models.describe import trained_models
from datayard.core.units import size

from .render import out, print_json
from .versions import REF_METAVAR, json_option, open_store, profile_option


@click.command(name="show")
@click.argument("dataset", metavar=REF_METAVAR)
@profile_option
@json_option
def command(dataset: str, profile_name: str | None, as_json: bool) -> None:
    """Show a version of DATASET (the newest unless @VERSION is given: its number as v3,
    latest, or its id)."""
    store = open_store(profile_name)
    manifest = store.manifest(dataset)
    numbered = numbers(store.catalog.history(manifest.owner, manifest.name))
    info = summary(manifest, numbered[manifest.id])
    info["models"] = [
        {"model": m.model, "run": m.run, "mAP50-95": m.score}
        for m in trained_models(store.bucket).get(manifest.ref, [])
    ]
    if as_json:
        print_json(info)
        return
    overview = [
        ("version", f"v{info['number']}: {info['ref']}"),
        *([("message", info["message"])] if info["message"] else []),
        ("parent", parent_text(manifest.parent, numbered)),
        ("created", info["created"]),
        ("pushed by", info["pushed_by"]),
        ("source", f"{info['source']['host']}: {', '.join(info['source']['paths'])}"),
        ("files", f"{info['files']} ({info['images']} images, {info['labels']} labels)"),
        ("size", size(info["bytes"])),
    ]
    out.print(_table(info["ref"], ["", ""], overview, header=False))
    out.print(_table("Images per split", ["split", "images"], info["splits"].items()))
    classes = [(c["id"], c["name"] or "(no name)", c["instances"]) for c in info["classes"]]
    out.print(_table("Classes", ["id", "name", "instances"], classes))
    if info["models"]:
        rows = [
            (m["model"], m["run"], "" if m["mAP50-95"] is None else f"{m['mAP50-95']:.3f}")
            for m in info["models"]
        ]
        out.print(_table("Models trained on it", ["model", "run", "mAP50-95"], rows))


def _table(
    title: str, columns: list[str], rows: Iterable[Iterable[Any]], *, header: bool = True
) -> Table:
    # Text, not markup: a source path named "[raw]" must print as it is.
    table = Table(*columns, title=Text(title), title_justify="left", show_header=header)
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table
