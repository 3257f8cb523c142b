"""How a model version reads to people: ``models list/show --json``, their tables, the GUI."""

from __future__ import annotations

from typing import Any

from datayard.core.models.version import ModelVersion


def summary(version: ModelVersion, number: int) -> dict[str, Any]:
    """One version as plain data; ``number`` is its place in its model's history (v1...)."""
    lineage = version.lineage
    return {
        "ref": version.ref,
        "owner": version.owner,
        "name": version.name,
        "id": version.id,
        "number": number,
        "message": version.message,
        "created": version.created,
        "parent": version.parent,
        "added_by": version.added_by,
        "sha256": version.sha256,
        "bytes": version.size,
        "task": version.facts.task,
        "class_names": list(version.facts.class_names),
        "architecture": version.facts.architecture,
        "parameters": version.facts.parameters,
        "imgsz": version.facts.imgsz,
        "source": version.source,
        "lineage": {
            "run": lineage.run,
            "dataset": lineage.dataset,
            "spec": lineage.spec,
            "metrics": lineage.metrics,
            "exports": list(lineage.exports),
        },
    }


def parameters(count: int) -> str:
    """2590230 -> "2.6 M": parameter counts as model cards print them."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} M"
    if count >= 1_000:
        return f"{count / 1_000:.0f} k"
    return str(count)
