"""``datayard show``: one dataset version, its origin, splits and classes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from datayard.core.datasets.catalog import group_versions
from datayard.core.datasets.describe import summary
from datayard.core.datasets.history import numbers
from datayard.core.models.version import ModelCatalog
from datayard.core.units import size

from .render import out, print_json
from .versions import REF_METAVAR, Store, json_option, open_store, profile_option


@click.command(name="show")
@click.argument("dataset", metavar=REF_METAVAR)
@profile_option
@json_option
def command(dataset: str, profile_name: str | None, as_json: bool) -> None:
    """Show a version of DATASET (the newest unless @VERSION is given: its number as v3,
    latest, or its id)."""
    store = open_store(profile_name)
    manifest = store.manifest(dataset)
    number = numbers(store.catalog.history(manifest.owner, manifest.name))[manifest.id]
    info = summary(manifest, number)
    info["models"] = trained_on(store, manifest.ref)
    if as_json:
        print_json(info)
        return
    overview = [
        ("version", f"v{info['number']}: {info['ref']}"),
        *([("message", info["message"])] if info["message"] else []),
        ("parent", info["parent"] or "none"),
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


def trained_on(store: Store, dataset: str) -> list[dict[str, Any]]:
    """The model versions whose lineage names the dataset version ``dataset``."""
    models = group_versions(ModelCatalog(store.bucket).stored_versions())
    return [
        {
            "model": f"{version.owner}/{version.name}@v{model.number(version)}",
            "run": version.lineage.run,
            "mAP50-95": version.lineage.metrics.get("mAP50-95"),
        }
        for model in models
        for version in model.versions
        if version.lineage.dataset == dataset
    ]


def _table(
    title: str, columns: list[str], rows: Iterable[Iterable[Any]], *, header: bool = True
) -> Table:
    # Text, not markup: a source path named "[raw]" must print as it is.
    table = Table(*columns, title=Text(title), title_justify="left", show_header=header)
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table
