"""Checks that need a whole set: pairing, duplicates, leaks between splits, class usage,
labels that do not fit how their image is turned.

They run after every file of the set was checked, on the per-file results, so
nothing here touches the disk except through :mod:`.datayaml`.
"""

from __future__ import annotations

import posixpath
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from datayard.core.drive.check.datayaml import check_data_yaml
from datayard.core.drive.check.findings import Finding, FindingKind
from datayard.core.drive.check.labels import LabelResult
from datayard.core.drive.check.similar import Fingerprint, look_alike_pairs
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
    looks: Mapping[str, Fingerprint] | None = None,
    turned: Collection[str] = (),
) -> tuple[list[Finding], SetSummary]:
    """Findings and summary of one set.

    ``labels`` holds the result of every label file of the set's items;
    ``hashes`` the sha256 of its non-empty images (empty ones are already an
    error, and would all look identical); ``looks`` the fingerprints of those
    images that were compared (see :mod:`.similar`); ``turned`` the images that
    their EXIF orientation turns by 90 degrees.
    """
    place = dataset.root or "."
    results = [labels[item.label] for item in dataset.items if item.label is not None]
    classes = _class_stats(dataset.class_names, results)
    findings = [
        Finding(FindingKind.ORPHAN_LABEL, rel, "no image has this label's name")
        for rel in dataset.orphan_labels
    ]
    findings += _pairing(dataset, place, labelled=len(results))
    findings += _measured_unturned(dataset, labels, turned)
    findings += [_shared(dataset.data_yaml or place, shared) for shared in dataset.shared]
    findings += _copies(dataset, dataset.data_yaml or place, hashes, looks or {})
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


def _measured_unturned(
    dataset: DatasetSet, labels: Mapping[str, LabelResult], turned: Collection[str]
) -> list[Finding]:
    """Labels with coordinates beyond [0, 1] whose image is turned by 90 degrees: the
    coordinates alone do not say why, the two together do. A label measured on the
    image as stored and divided by that same size stays within [0, 1] wherever its
    boxes lie, and no check can tell it from a right one."""
    found = []
    for item in dataset.items:
        if item.label is None or item.image not in turned:
            continue
        if any(f.kind is FindingKind.LABEL_COORDINATES for f in labels[item.label].findings):
            detail = f"its image {posixpath.basename(item.image)} is turned by its EXIF orientation"
            found.append(
                Finding(
                    FindingKind.LABEL_FOR_UNTURNED_IMAGE, item.label, detail, related=(item.image,)
                )
            )
    return found


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


def _copies(
    dataset: DatasetSet, place: str, hashes: Mapping[str, str], looks: Mapping[str, Fingerprint]
) -> list[Finding]:
    """Copies within a split (weighing double), and copies across splits (leaks): by
    their bytes, then by their looks where the images were compared."""
    split_of = {item.image: item.split for item in dataset.items}
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for item in dataset.items:
        digest = hashes.get(item.image)
        if digest is not None:
            groups[digest].append(item.image)
    findings = []
    leaks: list[_Leak] = []
    for paths in groups.values():
        by_split: defaultdict[str, list[str]] = defaultdict(list)
        for path in sorted(paths):
            by_split[split_of[path]].append(path)
        for same in by_split.values():
            if len(same) > 1:
                first, *copies = same
                detail = f"{len(same)} files with the same bytes"
                findings.append(
                    Finding(FindingKind.DUPLICATE_IMAGES, first, detail, related=tuple(copies))
                )
        leaks += _leaks(by_split, exact=True)
    compared = sorted(path for path in split_of if path in looks)
    clusters = _Clusters()
    for mine, theirs in look_alike_pairs([looks[path] for path in compared]):
        one, other = compared[mine], compared[theirs]
        if hashes.get(one) == hashes.get(other):
            continue  # the same bytes: reported above
        if split_of[one] == split_of[other]:
            clusters.join(one, other)
        else:
            leaks += _leaks({split_of[one]: [one], split_of[other]: [other]}, exact=False)
    findings += [
        Finding(
            FindingKind.NEAR_DUPLICATES,
            first,
            f"{len(copies) + 1} images{_in(split_of[first])} that look the same",
            related=tuple(copies),
        )
        for first, *copies in clusters.groups()
    ]
    if leaks:
        findings.append(_leak_finding(place, leaks))
    return findings


@dataclass(frozen=True, slots=True)
class _Leak:
    evaluated: str
    """The split whose scores the copy inflates: the later of the two (train, val, test)."""
    source: str
    image: str
    """The image in ``evaluated``."""
    copy: str
    exact: bool


_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}


def _leaks(by_split: Mapping[str, list[str]], *, exact: bool) -> list[_Leak]:
    """Each image of a later split paired with its copy in the earliest split."""
    splits = sorted((split for split in by_split if split), key=_split_rank)
    if len(splits) < 2:
        return []
    source, *later = splits
    copy = by_split[source][0]
    return [
        _Leak(split, source, image, copy, exact) for split in later for image in by_split[split]
    ]


def _split_rank(split: str) -> tuple[int, str]:
    return _SPLIT_ORDER.get(split, len(_SPLIT_ORDER)), split


def _leak_finding(place: str, leaks: list[_Leak]) -> Finding:
    """One finding for the set: per pair of splits how many images leak, and the pairs."""
    by_splits: defaultdict[tuple[str, str], dict[str, _Leak]] = defaultdict(dict)
    for leak in sorted(leaks, key=lambda leak: (not leak.exact, leak.image)):
        by_splits[leak.evaluated, leak.source].setdefault(leak.image, leak)
    parts = []
    pairs: list[tuple[str, str]] = []
    for (evaluated, source), found in sorted(
        by_splits.items(), key=lambda item: [_split_rank(split) for split in item[0]]
    ):
        exact = sum(leak.exact for leak in found.values())
        near = len(found) - exact
        ways = [
            f"{exact} with the same bytes" * bool(exact),
            f"{near} that look the same" * bool(near),
        ]
        images = "1 image" if len(found) == 1 else f"{len(found)} images"
        verb = "has" if len(found) == 1 else "have"
        parts.append(
            f"{images} of {evaluated} {verb} a copy in {source} ({', '.join(filter(None, ways))})"
        )
        pairs += [
            (leak.image, leak.copy) for leak in sorted(found.values(), key=lambda leak: leak.image)
        ]
    detail = "; ".join(parts) + ": their scores will look better than they are"
    return Finding(FindingKind.LEAKY_SPLITS, place, detail, pairs=tuple(pairs))


class _Clusters:
    """Union-find over paths: look-alikes chained by pairs make one cluster."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def join(self, one: str, other: str) -> None:
        self._parent[self._root(one)] = self._root(other)

    def _root(self, path: str) -> str:
        root = self._parent.setdefault(path, path)
        while self._parent[root] != root:
            root = self._parent[root]
        while path != root:  # point the chain at its root: the next look is one step
            path, self._parent[path] = self._parent[path], root
        return root

    def groups(self) -> list[list[str]]:
        members: defaultdict[str, list[str]] = defaultdict(list)
        for path in self._parent:
            members[self._root(path)].append(path)
        return sorted(sorted(group) for group in members.values())


def _in(split: str) -> str:
    return f" in {split}" if split else ""


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


IMBALANCE = 10
"""Objects of the most used class per object of the least used one, from which a set
hears of it."""


def _imbalance(place: str, classes: tuple[ClassStats, ...]) -> list[Finding]:
    used = [stats for stats in classes if stats.instances and stats.name is not None]
    if len(used) < 2:
        return []
    most = max(used, key=lambda stats: stats.instances)
    least = min(used, key=lambda stats: stats.instances)
    ratio = most.instances / least.instances
    if ratio < IMBALANCE:
        return []
    detail = (
        f"'{most.name}' has {most.instances:,} objects, '{least.name}' {least.instances:,}: "
        f"{ratio:,.0f} to 1"
    )
    return [Finding(FindingKind.CLASS_IMBALANCE, place, detail)]


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
    findings += _imbalance(place, classes)
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
