"""How a model version reads to people: ``models list/show --json``, their tables, the GUI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datayard.core.datasets.catalog import group_versions
from datayard.core.models.version import ModelCatalog, ModelVersion
from datayard.core.store.bucket import Bucket


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
            "classes": lineage.classes,
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


@dataclass(frozen=True)
class TrainedModel:
    """A model version as the dataset version it was trained on lists it."""

    model: str
    """``owner/name@vN``."""
    run: str
    score: float | None
    """Its final mAP50-95, when its lineage has one."""


def trained_models(bucket: Bucket) -> dict[str, list[TrainedModel]]:
    """The store's model versions by the dataset version their run trained on (its full
    ref, ``owner/name@id``); added files, which name no dataset, are left out."""
    found: dict[str, list[TrainedModel]] = {}
    for model in group_versions(ModelCatalog(bucket).stored_versions()):
        for version in model.versions:
            if version.lineage.dataset:
                found.setdefault(version.lineage.dataset, []).append(
                    TrainedModel(
                        f"{version.owner}/{version.name}@v{model.number(version)}",
                        version.lineage.run,
                        version.lineage.metrics.get("mAP50-95"),
                    )
                )
    return found
