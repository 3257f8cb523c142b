"""``datayard scan PATH``: what a folder holds, as tables or as JSON."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from datayard.core.drive.inventory import Inventory
from datayard.core.drive.scan import Summary, scan, summarize
from datayard.core.events import CancelToken, run_to_end
from datayard.core.paths import AppDirs
from datayard.core.units import size

from .render import follow, out, print_json

MAX_PROBLEMS_SHOWN = 20
"""The terminal lists the first problems; --json lists them all."""


@click.command(name="scan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--include-hidden",
    is_flag=True,
    help="Also scan hidden files and folders (names starting with '.').",
)
@click.option(
    "--no-hash",
    is_flag=True,
    help="Do not read images (a quick browse); labels are still read for the class counts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel reads [default: 2 per core].",
)
def command(
    path: Path, include_hidden: bool, no_hash: bool, as_json: bool, workers: int | None
) -> None:
    """Inventory the images, labels and dataset layouts under PATH.

    Hashes are cached, so scanning an unchanged folder again reads no file
    contents. Problems (unreadable folders, broken links) are reported, not
    fatal: the exit status is 0 whenever the scan itself completed.
    """
    cancel = CancelToken()
    operation = scan(
        path,
        database=AppDirs.default().ensure().database,
        include_hidden=include_hidden,
        hash_files=not no_hash,
        workers=workers,
        cancel=cancel,
    )
    try:
        inventory = run_to_end(follow(operation), Inventory)
    except KeyboardInterrupt:
        # Stop the reads in flight, then let the scan save the hashes it has.
        cancel.set()
        operation.close()
        raise
    summary = summarize(inventory)
    if as_json:
        print_json(summary)
    else:
        render(summary)


def render(summary: Summary) -> None:
    """Print the summary as tables on stdout, leaving out the empty ones."""
    out.print(_overview(summary))
    for make in (_formats, _layouts, _sets, _splits, _classes, _problems):
        table = make(summary)
        if table.row_count:
            out.print(table)


def _table(title: str, text: Iterable[str], numbers: Iterable[str] = ()) -> Table:
    """Text columns on the left, numbers on the right, aligned as numbers are."""
    table = Table(title=Text(title), title_justify="left", title_style="bold")
    for column in text:
        table.add_column(column)
    for column in numbers:
        table.add_column(column, justify="right")
    return table


def _add_rows(table: Table, rows: Iterable[Iterable[Any]]) -> Table:
    # Text, not markup: a folder named "[final]" must print as it is.
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table


def _overview(summary: Summary) -> Table:
    kinds = summary["kinds"]
    table = _table(f"Scan of {summary['root']}", [""], [""])
    table.show_header = False
    return _add_rows(
        table,
        [
            ("files", summary["files"]),
            ("total size", size(summary["bytes"])),
            ("images", kinds.get("image", 0)),
            ("label files", kinds.get("label", 0)),
            ("data.yaml files", kinds.get("data.yaml", 0)),
            ("other files", kinds.get("other", 0)),
            ("hashed", summary["hashed"]),
            ("dataset sets", len(summary["sets"])),
            ("problems", len(summary["problems"])),
            ("junk skipped", summary["junk_skipped"]),
            ("hidden skipped", summary["hidden_skipped"]),
        ],
    )


def _formats(summary: Summary) -> Table:
    rows = [
        (row["format"], row["kind"], row["files"], size(row["bytes"])) for row in summary["formats"]
    ]
    return _add_rows(_table("Formats", ["format", "kind"], ["files", "size"]), rows)


def _sets(summary: Summary) -> Table:
    rows = [
        (
            entry["root"],
            entry["layout"],
            ", ".join(f"{split} {count}" for split, count in entry["splits"].items()),
            entry["images"],
            entry["labelled"],
            entry["orphan_labels"],
        )
        for entry in summary["sets"]
    ]
    table = _table(
        "Dataset sets", ["folder", "layout", "splits"], ["images", "labelled", "orphan labels"]
    )
    return _add_rows(table, rows)


def _layouts(summary: Summary) -> Table:
    rows = [(name, value["sets"], value["images"]) for name, value in summary["layouts"].items()]
    return _add_rows(_table("Layouts", ["layout"], ["sets", "images"]), rows)


def _splits(summary: Summary) -> Table:
    return _add_rows(_table("Images per split", ["split"], ["images"]), summary["splits"].items())


def _classes(summary: Summary) -> Table:
    rows = [(row["class"], row["objects"], row["images"]) for row in summary["classes"]]
    return _add_rows(_table("Classes", ["class"], ["objects", "images"]), rows)


def _problems(summary: Summary) -> Table:
    problems = summary["problems"]
    rows = [(row["path"], row["kind"], row["detail"]) for row in problems[:MAX_PROBLEMS_SHOWN]]
    table = _add_rows(_table("Problems", ["path", "problem", "detail"]), rows)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        table.caption = f"{len(problems) - MAX_PROBLEMS_SHOWN} more: use --json to list them all"
    return table
