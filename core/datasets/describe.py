"""How a dataset version and a count read to people: shared by the CLI and the GUI."""

from __future__ import annotations

from typing import Any

from datayard.core.datasets.manifest import Manifest, Role


def count(number: int, noun: str) -> str:
    """ "1 file", "2 files": counts read as sentences."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def parent_text(parent: str | None, numbers: dict[str, int]) -> str:
    """A version's parent as people read it: its number and id (``numbers``: the dataset's,
    :func:`~datayard.core.datasets.history.numbers`), "none" for a first version."""
    if parent is None:
        return "none (first version)"
    return f"v{numbers[parent]}: {parent}" if parent in numbers else parent


def summary(manifest: Manifest, number: int | None = None) -> dict[str, Any]:
    """One version as plain data: ``show --json``, the rows of ``datasets``, the GUI details;
    ``number`` is its place in its dataset's history (v1, v2...), when known."""
    histogram = manifest.class_histogram()
    names = dict(enumerate(manifest.class_names))
    return {
        "ref": manifest.ref,
        "owner": manifest.owner,
        "name": manifest.name,
        "id": manifest.id,
        "number": number,
        "message": manifest.message,
        "created": manifest.created,
        "parent": manifest.parent,
        "pushed_by": manifest.pushed_by,
        "source": {"host": manifest.source_host, "paths": list(manifest.source_paths)},
        "files": len(manifest.files),
        "bytes": manifest.total_bytes,
        "images": sum(1 for f in manifest.files if f.role is Role.IMAGE),
        "labels": sum(1 for f in manifest.files if f.role is Role.LABEL),
        "splits": dict(sorted(manifest.split_counts().items())),
        "classes": [
            {"id": class_id, "name": names.get(class_id), "instances": histogram[class_id]}
            for class_id in sorted(names.keys() | histogram.keys())
        ],
    }
