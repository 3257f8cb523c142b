"""What an inventory amounts to, as plain dicts: one summary for CLI, JSON and GUI.

Everything here is computed from the inventory alone (no disk access), so the
GUI can call it on the UI thread and scripts get exactly what the terminal shows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from datayard.core.drive.inventory import DatasetSet, FileKind, Inventory

UNSPLIT = "unsplit"
"""The split shown for images of a layout without splits."""

Summary = dict[str, Any]
"""JSON-ready: only str keys, and str, int, None, list and dict values."""


def class_name(class_names: tuple[str, ...], class_id: int) -> str:
    """The name from data.yaml or classes.txt, else the id itself."""
    return class_names[class_id] if class_id < len(class_names) else str(class_id)


def summarize(inventory: Inventory) -> Summary:
    label_ids = {entry.rel: entry.class_ids for entry in inventory.of_kind(FileKind.LABEL)}
    return {
        "root": str(inventory.root),
        "files": len(inventory.files),
        "bytes": sum(entry.size for entry in inventory.files),
        "hashed": sum(1 for entry in inventory.files if entry.sha256 is not None),
        "kinds": dict(Counter(str(entry.kind) for entry in inventory.files).most_common()),
        "formats": _formats(inventory),
        "layouts": _layouts(inventory.sets),
        "splits": _splits(inventory.sets),
        "classes": _classes(inventory.sets, label_ids),
        "sets": [_set(dataset, label_ids) for dataset in inventory.sets],
        "problems": [
            {"path": problem.rel, "kind": str(problem.kind), "detail": problem.detail}
            for problem in inventory.problems
        ],
        "problem_counts": dict(
            Counter(str(problem.kind) for problem in inventory.problems).most_common()
        ),
        "junk_skipped": inventory.junk_skipped,
        "hidden_skipped": inventory.hidden_skipped,
    }


def _formats(inventory: Inventory) -> list[dict[str, Any]]:
    files: Counter[tuple[str, str]] = Counter()
    sizes: Counter[tuple[str, str]] = Counter()
    for entry in inventory.files:
        key = (entry.suffix or "(none)", str(entry.kind))
        files[key] += 1
        sizes[key] += entry.size
    return [
        {"format": suffix, "kind": kind, "files": count, "bytes": sizes[suffix, kind]}
        for (suffix, kind), count in files.most_common()
    ]


def _layouts(sets: list[DatasetSet]) -> dict[str, dict[str, int]]:
    layouts: defaultdict[str, dict[str, int]] = defaultdict(lambda: {"sets": 0, "images": 0})
    for dataset in sets:
        layouts[str(dataset.layout)]["sets"] += 1
        layouts[str(dataset.layout)]["images"] += len(dataset.items)
    return dict(layouts)


def _splits(sets: list[DatasetSet]) -> dict[str, int]:
    splits: Counter[str] = Counter()
    for dataset in sets:
        for split, count in dataset.splits.items():
            splits[split or UNSPLIT] += count
    return dict(splits.most_common())


def _class_counts(
    dataset: DatasetSet, label_ids: dict[str, tuple[int, ...] | None]
) -> tuple[Counter[str], Counter[str]]:
    """Objects and images per class name in one set; an image counts once per class."""
    objects: Counter[str] = Counter()
    images: Counter[str] = Counter()
    for item in dataset.items:
        ids = label_ids.get(item.label) if item.label else None
        if not ids:
            continue
        names = [class_name(dataset.class_names, class_id) for class_id in ids]
        objects.update(names)
        images.update(set(names))
    return objects, images


def _classes(
    sets: list[DatasetSet], label_ids: dict[str, tuple[int, ...] | None]
) -> list[dict[str, Any]]:
    objects: Counter[str] = Counter()
    images: Counter[str] = Counter()
    for dataset in sets:
        set_objects, set_images = _class_counts(dataset, label_ids)
        objects += set_objects
        images += set_images
    return [
        {"class": name, "objects": count, "images": images[name]}
        for name, count in objects.most_common()
    ]


def _set(dataset: DatasetSet, label_ids: dict[str, tuple[int, ...] | None]) -> dict[str, Any]:
    objects, _ = _class_counts(dataset, label_ids)
    return {
        "root": dataset.root or ".",
        "layout": str(dataset.layout),
        "data_yaml": dataset.data_yaml,
        "images": len(dataset.items),
        "labelled": sum(1 for item in dataset.items if item.label),
        "orphan_labels": len(dataset.orphan_labels),
        "splits": {split or UNSPLIT: count for split, count in dataset.splits.items()},
        "class_names": list(dataset.class_names),
        "objects_per_class": dict(objects.most_common()),
    }
