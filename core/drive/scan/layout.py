"""Recognising the dataset sets that a tree of images and labels forms.

The layouts are tried from the most explicit to the least, and each image joins
the first set that claims it: what a data.yaml names, then ``images/`` +
``labels/`` trees, then folder by folder (image + label pairs, or images only).
A label belongs to an image by Ultralytics' own rule (:func:`label_for`), so a
set recognised here is a set that training reads the same way.
"""

from __future__ import annotations

import functools
import logging
import os
import posixpath
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from datayard.core.drive import formats
from datayard.core.drive.inventory import (
    DatasetSet,
    FileEntry,
    FileKind,
    LayoutKind,
    SetItem,
    SharedSplit,
)
from datayard.core.drive.scan.data_yaml import DataYaml
from datayard.core.drive.scan.walker import stem_of

log = logging.getLogger(__name__)

CLASSES_FILE = "classes.txt"
"""Class names, one per line, as LabelImg and Label Studio's YOLO export write them."""


def label_for(image: str) -> str:
    """Ultralytics' rule: the last ``/images/`` becomes ``/labels/``, the suffix ``.txt``."""
    slash = image.rfind("/") + 1
    return f"{_labels_of(image[:slash])}{stem_of(image[slash:])}{formats.LABEL_SUFFIX}"


@functools.lru_cache(maxsize=4096)
def _labels_of(folder: str) -> str:
    """The labels folder of an images folder, both with their last ``/`` (or ``""``).

    Worked out once per folder: a set's images share few folders, and this runs
    for each of them. The last ``/images/`` is always in the folder: a name
    holds no ``/``.
    """
    head, marker, tail = f"/{folder}".rpartition("/images/")
    return (f"{head}/labels/{tail}" if marker else f"/{folder}")[1:]


def _label_folder(folder: str) -> str:
    head, marker, tail = f"/{folder}/".rpartition("/images/")
    return (f"{head}/labels/{tail}" if marker else f"/{folder}/").strip("/")


def _split_name(name: str) -> str | None:
    split: str | None = formats.SPLIT_ALIASES.get(name.lower())
    return split


def _is_sidecar(rel: str) -> bool:
    return rel == CLASSES_FILE or rel.endswith(f"/{CLASSES_FILE}")


class _Index:
    """Sorted paths, so that everything under a folder is one bisect away."""

    def __init__(self, files: Sequence[FileEntry]) -> None:
        self.images = sorted(entry.rel for entry in files if entry.kind is FileKind.IMAGE)
        self.labels = sorted(
            entry.rel
            for entry in files
            if entry.kind is FileKind.LABEL and not _is_sidecar(entry.rel)
        )
        self.sidecars = frozenset(entry.rel for entry in files if _is_sidecar(entry.rel))
        self.image_set = frozenset(self.images)
        self.label_set = frozenset(self.labels)

    @staticmethod
    def under(paths: list[str], folder: str) -> list[str]:
        if not folder:
            return paths
        # "/" sorts just before "0": the paths that start with "folder/" are one slice.
        return paths[bisect_left(paths, f"{folder}/") : bisect_left(paths, f"{folder}0")]


@dataclass
class _Claims:
    """Images and labels already in a set, which later layouts must not take again."""

    images: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)

    def take(self, sets: list[DatasetSet]) -> list[DatasetSet]:
        """Claim what the sets hold, and return them."""
        for dataset in sets:
            self.images.update(item.image for item in dataset.items)
            self.labels.update(item.label for item in dataset.items if item.label)
            self.labels.update(dataset.orphan_labels)
        return sets


def detect_sets(
    root: str, files: Sequence[FileEntry], yamls: Sequence[DataYaml]
) -> list[DatasetSet]:
    """Every dataset set in the tree, sorted by folder."""
    index = _Index(files)
    claims = _Claims()
    list_files = {
        source.list_file for data in yamls for sources in data.splits.values() for source in sources
    }
    sets = claims.take([_yaml_set(index, data, list_files) for data in yamls])
    sets += claims.take(_tree_sets(root, index, claims))
    sets += claims.take(_folder_sets(root, index, claims))
    return sorted(sets, key=lambda dataset: (dataset.root, dataset.layout, dataset.data_yaml or ""))


def _yaml_set(index: _Index, data: DataYaml, list_files: set[str | None]) -> DatasetSet:
    """The set a data.yaml describes. An image its splits list twice (``val:`` naming
    the train folder) is held once, in the first split that lists it: held twice, it
    was its own duplicate, and its label's findings and classes counted double."""
    items: list[SetItem] = []
    label_folders: set[str] = set()
    split_of: dict[str, str] = {}
    listed: defaultdict[str, set[str]] = defaultdict(set)
    for split, sources in data.splits.items():
        for source in sources:
            if source.folder is None:
                images = [rel for rel in source.listed if rel in index.image_set]
            else:
                images = index.under(index.images, source.folder)
                label_folders.add(_label_folder(source.folder))
            for image in images:
                listed[split].add(image)
                if image not in split_of:
                    split_of[image] = split
                    items.append(SetItem(image, _existing_label(index, image), split))
    matched = {item.label for item in items}
    orphans = {
        label
        for folder in label_folders
        for label in index.under(index.labels, folder)
        if label not in matched and label not in list_files
    }
    return DatasetSet(
        root=posixpath.dirname(data.rel),
        layout=LayoutKind.DATA_YAML,
        items=tuple(items),
        class_names=data.class_names,
        data_yaml=data.rel,
        orphan_labels=tuple(sorted(orphans)),
        shared=_shared_splits(listed, split_of),
    )


def _shared_splits(
    listed: Mapping[str, set[str]], split_of: Mapping[str, str]
) -> tuple[SharedSplit, ...]:
    """Per split, the images held in another (the first that listed them)."""
    shared = []
    for split, images in listed.items():
        elsewhere = Counter(split_of[image] for image in images if split_of[image] != split)
        for first, count in sorted(elsewhere.items()):
            whole = count == len(images)
            shared.append(SharedSplit(split=split, first=first, images=count, whole=whole))
    return tuple(shared)


def _existing_label(index: _Index, image: str) -> str | None:
    label = label_for(image)
    return label if label in index.label_set else None


def _tree_position(rel: str, marker: str) -> tuple[str, str] | None:
    """``(set root, split)`` of a path inside an ``images``/``labels`` tree.

    Both arrangements exist in the wild: ``root/images/train/...`` (Ultralytics)
    and ``root/train/images/...`` (Roboflow exports).
    """
    folders = rel.split("/")[:-1]
    if marker not in folders:
        return None
    at = len(folders) - 1 - folders[::-1].index(marker)
    if at >= 1 and (split := _split_name(folders[at - 1])):
        return "/".join(folders[: at - 1]), split
    if at + 1 < len(folders) and (split := _split_name(folders[at + 1])):
        return "/".join(folders[:at]), split
    return "/".join(folders[:at]), ""


@dataclass
class _Tree:
    images: list[tuple[str, str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def is_dataset(self) -> bool:
        """A lone ``images`` folder without splits or labels is just a folder of images."""
        return bool(self.labels) or any(split for _, split in self.images)


def _placed(
    paths: Iterable[str], claimed: set[str], marker: str
) -> Iterator[tuple[str, tuple[str, str]]]:
    """The paths not claimed yet that lie in an ``images``/``labels`` tree, each with
    its ``(set root, split)``, worked out once per folder: it is a folder's."""
    positions: dict[str, tuple[str, str] | None] = {}
    for path in paths:
        if path in claimed:
            continue
        folder = path[: path.rfind("/") + 1]
        if folder in positions:
            position = positions[folder]
        else:
            position = positions[folder] = _tree_position(path, marker)
        if position is not None:
            yield path, position


def _tree_sets(root: str, index: _Index, claims: _Claims) -> list[DatasetSet]:
    trees: defaultdict[str, _Tree] = defaultdict(_Tree)
    for image, (tree_root, split) in _placed(index.images, claims.images, "images"):
        trees[tree_root].images.append((image, split))
    for label, (tree_root, _) in _placed(index.labels, claims.labels, "labels"):
        trees[tree_root].labels.append(label)
    sets = []
    for tree_root, tree in trees.items():
        if not tree.is_dataset:
            continue
        labels = set(tree.labels)
        items = []
        for image, split in tree.images:
            label = label_for(image)
            items.append(SetItem(image, label if label in labels else None, split))
        matched = {item.label for item in items}
        sets.append(
            DatasetSet(
                root=tree_root,
                layout=LayoutKind.SPLIT_TREE,
                items=tuple(items),
                class_names=_class_names(
                    root, index, [tree_root, posixpath.join(tree_root, "labels")]
                ),
                orphan_labels=tuple(sorted(labels - matched)),
            )
        )
    return sets


def _folder_sets(root: str, index: _Index, claims: _Claims) -> list[DatasetSet]:
    images: defaultdict[str, list[str]] = defaultdict(list)
    labels: defaultdict[str, set[str]] = defaultdict(set)
    for image in index.images:
        if image not in claims.images:
            images[posixpath.dirname(image)].append(image)
    for label in index.labels:
        if label not in claims.labels:
            labels[posixpath.dirname(label)].add(label)
    sets = []
    for folder, folder_images in images.items():
        folder_labels = labels.get(folder, set())
        items = [
            SetItem(image, _same_name_label(image, folder_labels), "") for image in folder_images
        ]
        matched = {item.label for item in items if item.label}
        paired = bool(matched)
        sets.append(
            DatasetSet(
                root=folder,
                layout=LayoutKind.FLAT_PAIRS if paired else LayoutKind.IMAGES_ONLY,
                items=tuple(items),
                class_names=_class_names(root, index, [folder]) if paired else (),
                orphan_labels=tuple(sorted(folder_labels - matched)) if paired else (),
            )
        )
    return sets


def _same_name_label(image: str, labels: set[str]) -> str | None:
    label = stem_of(image) + formats.LABEL_SUFFIX
    return label if label in labels else None


def _class_names(root: str, index: _Index, folders: Iterable[str]) -> tuple[str, ...]:
    """Names from the first ``classes.txt`` found in the folders, in order."""
    for folder in folders:
        rel = posixpath.join(folder, CLASSES_FILE)
        if rel not in index.sidecars:
            continue
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as file:
                return tuple(line.strip() for line in file if line.strip())
        except OSError as error:
            log.debug("cannot read %s: %s", rel, error)
    return ()
