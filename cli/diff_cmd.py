"""``datayard diff``: which files differ between two dataset versions."""

from __future__ import annotations

import click
from rich.text import Text

from datayard.core.datasets.manifest import diff

from .render import out, print_json
from .versions import REF_METAVAR, json_option, open_store, profile_option


@click.command(name="diff")
@click.argument("old", metavar=REF_METAVAR)
@click.argument("new", metavar=REF_METAVAR)
@profile_option
@json_option
def command(old: str, new: str, profile_name: str | None, as_json: bool) -> None:
    """List the files added, removed and changed from version OLD to version NEW."""
    store = open_store(profile_name)
    before, after = store.manifest(old), store.manifest(new)
    added, removed, changed = diff(before, after)
    if as_json:
        print_json(
            {
                "from": before.ref,
                "to": after.ref,
                "added": added,
                "removed": removed,
                "changed": changed,
                "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)},
            }
        )
        return
    for mark, style, paths in (
        ("+", "green", added),
        ("-", "red", removed),
        ("~", "yellow", changed),
    ):
        for path in paths:
            out.print(Text(f"{mark} {path}", style=style))
    out.print(
        Text(
            f"{before.ref} -> {after.ref}: {len(added)} added, {len(removed)} removed, "
            f"{len(changed)} changed"
        )
    )
