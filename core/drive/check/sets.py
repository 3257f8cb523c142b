"""Checks that need a whole set: pairing, duplicates, class usage.

They run after every file of the set was checked, on the per-file results, so
nothing here touches the disk except through :mod:`.datayaml`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from datayard.core.drive.check.datayaml import check_data_yaml
from datayard.core.drive.check.findings import Finding, FindingKind
from datayard.core.drive.check.labels import LabelResult
from datayard.core.drive.inventory import DatasetSet, LayoutKind, SharedSplit


@dataclass(frozen=True, slots=True)
class ClassStats:
    class_id: int
    name: str | None
    """``None`` when the set has no name for this id."""
    instances: int
    images: int


@dataclass(frozen=True, slots=True)
class SetSummary:
    root: str
    layout: LayoutKind
    data_yaml: str | None
    images: int
    labelled_images: int
    splits: dict[str, int]
    classes: tuple[ClassStats, ...]
    """Every named class, then any id used beyond the names, in id order."""


def check_set(
    dataset: DatasetSet,
    labels: Mapping[str, LabelResult],
    hashes: Mapping[str, str],
    root: Path,
) -> tuple[list[Finding], SetSummary]:
    """Findings and summary of one set.

    ``labels`` holds the result of every label file of the set's items;
    ``hashes`` the sha256 of its non-empty images (empty ones are already an
    error, and would all look identical).
    """
    place = dataset.root or "."
    results = [labels[item.label] for item in dataset.items if item.label is not None]
    classes = _class_stats(dataset.class_names, results)
    findings = [
        Finding(FindingKind.ORPHAN_LABEL, rel, "no image has this label's name")
        for rel in dataset.orphan_labels
    ]
    findings += _pairing(dataset, place, labelled=len(results))
    findings += [_shared(dataset.data_yaml or place, shared) for shared in dataset.shared]
    findings += _duplicates(dataset, hashes)
    if dataset.data_yaml is not None:
        findings += check_data_yaml(root, dataset.data_yaml)
    if dataset.class_names and results:
        findings += _class_names(dataset, dataset.data_yaml or place, classes)
    summary = SetSummary(
        root=place,
        layout=dataset.layout,
        data_yaml=dataset.data_yaml,
        images=len(dataset.items),
        labelled_images=len(results),
        splits=dict(sorted(dataset.splits.items())),
        classes=classes,
    )
    return findings, summary


def _pairing(dataset: DatasetSet, place: str, labelled: int) -> list[Finding]:
    """Images without labels: one warning when the set has none at all, else one note each."""
    if dataset.layout is LayoutKind.IMAGES_ONLY or not dataset.items:
        return []
    if labelled == 0:
        detail = f"none of its {len(dataset.items)} images has a label"
        return [Finding(FindingKind.NO_LABELLED_IMAGES, place, detail)]
    return [
        Finding(FindingKind.UNLABELLED_IMAGE, item.image, "no label file: a background image")
        for item in dataset.items
        if item.label is None
    ]


def _shared(place: str, shared: SharedSplit) -> Finding:
    scores = {"val": "validation scores", "test": "test scores"}.get(
        shared.split, f"{shared.split} scores"
    )
    if shared.whole:
        detail = (
            f"{shared.split} is the same folder as {shared.first}: {scores} will be meaningless"
        )
    else:
        some = f"{shared.images} images of {shared.split} are"
        if shared.images == 1:
            some = f"1 image of {shared.split} is"
        detail = (
            f"{some} also in {shared.first} (held there only): {scores} will look better than "
            "they are"
        )
    return Finding(FindingKind.SPLITS_SHARE_IMAGES, place, detail)


def _duplicates(dataset: DatasetSet, hashes: Mapping[str, str]) -> list[Finding]:
    groups: defaultdict[str, list[str]] = defaultdict(list)
    split_of = {item.image: item.split for item in dataset.items}
    for item in dataset.items:
        digest = hashes.get(item.image)
        if digest is not None:
            groups[digest].append(item.image)
    findings = []
    for paths in groups.values():
        if len(paths) < 2:
            continue
        first, *copies = sorted(paths)
        detail = f"{len(paths)} files with the same bytes"
        splits = sorted({split_of[path] for path in paths} - {""})
        if len(splits) > 1:
            detail += f", in {' and '.join(splits)}: validation sees training images"
        findings.append(Finding(FindingKind.DUPLICATE_IMAGES, first, detail, related=tuple(copies)))
    return findings


def _class_stats(names: tuple[str, ...], results: list[LabelResult]) -> tuple[ClassStats, ...]:
    instances: Counter[int] = Counter()
    images: Counter[int] = Counter()
    for result in results:
        instances.update(result.class_ids)
        images.update(set(result.class_ids))
    ids = sorted(set(range(len(names))) | set(instances))
    return tuple(
        ClassStats(
            class_id=class_id,
            name=names[class_id] if class_id < len(names) else None,
            instances=instances[class_id],
            images=images[class_id],
        )
        for class_id in ids
    )


def _class_names(dataset: DatasetSet, place: str, classes: tuple[ClassStats, ...]) -> list[Finding]:
    count = len(dataset.class_names)
    findings = []
    beyond = [stats.class_id for stats in classes if stats.name is None]
    if beyond:
        ids = ", ".join(str(class_id) for class_id in beyond)
        detail = (
            f"names {count} classes (ids 0-{count - 1}) but labels use "
            f"class id{'s' if len(beyond) > 1 else ''} {ids}"
        )
        findings.append(Finding(FindingKind.DATA_YAML_TOO_FEW_NAMES, place, detail))
    findings += [
        Finding(
            FindingKind.UNUSED_CLASS,
            place,
            f"class {stats.class_id} '{stats.name}' has no object in the labels",
        )
        for stats in classes
        if stats.name is not None and stats.instances == 0
    ]
    return findings
