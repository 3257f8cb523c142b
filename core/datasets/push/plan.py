"""From scanned folders to the files of a dataset version.

The version is stored in the layout training reads (``images/<split>/...`` and
``labels/<split>/...``), whatever layout the folders had on the shared drive, so
a pull is ready to train and two versions of the same data compare path by path.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from datayard.core.datasets.manifest import ManifestFile, Role, files_problem
from datayard.core.drive import formats
from datayard.core.drive.inventory import DatasetSet, FileEntry, Inventory, ScanProblemKind
from datayard.core.drive.scan.walker import suffix_of
from datayard.core.errors import UsageError, printable
from datayard.core.events import FileFailed


class SplitMode(StrEnum):
    AUTO = "auto"
    """The layout's splits where it has them, else a stable 80/20 train/val split."""
    FOLDER = "folder"
    """The layout's splits where it has them, else everything is train."""
    RATIO = "ratio"
    """A stable 80/20 train/val split of every image, whatever the layout says."""


VAL_SHARE = 0.2


@dataclass(frozen=True)
class PlannedFile:
    """One file to store: where it comes from and what it becomes in the version."""

    entry: ManifestFile

    @property
    def local(self) -> Path:
        """The file to read: built when needed, since a push plans 100,000s of files and a
        Path per file held for the whole push cost tens of MB."""
        return Path(self.entry.source)


@dataclass(frozen=True)
class Plan:
    files: tuple[PlannedFile, ...]
    class_names: tuple[str, ...]
    unreadable: tuple[FileFailed, ...] = ()
    """Files of the version the scan could not read: with nothing to store for them, a
    push that has any fails on them and publishes nothing, as when an upload fails."""

    @functools.cached_property
    def blobs(self) -> dict[str, PlannedFile]:
        """One planned file per distinct content: the one to upload.

        Cached: callers index it once per blob, and rebuilding it on every
        access made a push quadratic in its number of files.
        """
        unique: dict[str, PlannedFile] = {}
        for planned in self.files:
            unique.setdefault(planned.entry.sha256, planned)
        return unique


def _ratio_split(key: str) -> str:
    """Stable across pushes and machines: the same file always lands in the same split."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
    return "val" if bucket < VAL_SHARE else "train"


def _split_for(item_split: str, key: str, mode: SplitMode) -> str:
    if mode is SplitMode.RATIO:
        return _ratio_split(key)
    if item_split:
        return item_split
    return _ratio_split(key) if mode is SplitMode.AUTO else "train"


def _inner(image: str, root: str) -> str:
    """The image's path inside its set, without the ``images``/split folders."""
    if not root:
        rel = image
    elif image.startswith(f"{root}/"):  # as relpath says, without its getcwd per file
        rel = image[len(root) + 1 :]
    else:
        rel = posixpath.relpath(image, root)
    parts = [
        part
        for part in rel.split("/")[:-1]
        if part != "images" and part.lower() not in formats.SPLIT_ALIASES
    ]
    return "/".join([*parts, rel.split("/")[-1]])


def _content_type(path: str) -> str:
    return _content_type_of(suffix_of(path))


@functools.lru_cache(maxsize=64)
def _content_type_of(suffix: str) -> str:
    """By suffix, once each: asked for every file of a push, ``mimetypes`` costs more
    than the rest of the file's plan."""
    if suffix == formats.LABEL_SUFFIX:
        return "text/plain"
    return mimetypes.guess_type(f"file{suffix}")[0] or "application/octet-stream"


def _class_names(sets: Sequence[DatasetSet]) -> tuple[str, ...]:
    named = {s.class_names for s in sets if s.class_names}
    if len(named) > 1:
        listing = "; ".join(", ".join(names) for names in sorted(named))
        raise UsageError(
            f"the folders name their classes differently ({listing}): push them as "
            "separate datasets, or make their data.yaml / classes.txt agree"
        )
    return named.pop() if named else ()


def plan(inventories: Sequence[Inventory], mode: SplitMode) -> Plan:
    """Every image of every set, with its label, under a unique path per split.

    Folders pushed together keep their own sub-folder (their name and set root),
    so that ``a/img1.jpg`` and ``b/img1.jpg`` stay two files.
    """
    sets = [(inv, s) for inv in inventories for s in inv.sets]
    prefixed = len(sets) > 1
    files: list[PlannedFile | FileFailed] = []
    taken: set[str] = set()
    labels: dict[str, str] = {}  # label path in the version -> the label file it comes from
    max_class = -1
    # Once per inventory, not per set: a folder of 1,000 sub-folders has 1,000 sets.
    scanned_of = {id(inv): _Scanned.of(inv) for inv in inventories}
    for inventory, dataset_set in sets:
        scanned = scanned_of[id(inventory)]
        folder = inventory.root.name if len(inventories) > 1 else ""
        prefix = posixpath.join(folder, dataset_set.root if prefixed else "").strip("/")
        for item in dataset_set.items:
            split = _split_for(item.split, f"{prefix}/{item.image}", mode)
            inner = posixpath.join(prefix, _inner(item.image, dataset_set.root))
            if f"images/{split}/{inner}" in taken:
                # Two images that differ only by the images/split folders dropped above.
                inner = posixpath.join(prefix, item.image)
            taken.add(f"images/{split}/{inner}")
            files.append(scanned.planned(item.image, f"images/{split}/{inner}", split))
            if item.label is not None:
                path = f"labels/{split}/{posixpath.splitext(inner)[0]}.txt"
                # Images with one stem (a.jpg, a.png) share their label file, as in training.
                if labels.get(path) != item.label:
                    labels[path] = item.label
                    files.append(scanned.planned(item.label, path, split))
                class_ids = scanned.entries[item.label].class_ids
                max_class = max(max_class, *(class_ids or (-1,)))
    names = _class_names([s for _, s in sets])
    if not names and max_class >= 0:
        names = tuple(f"class{i}" for i in range(max_class + 1))
    planned = [f for f in files if isinstance(f, PlannedFile)]
    _check_readable(planned)
    return Plan(tuple(planned), names, tuple(f for f in files if isinstance(f, FileFailed)))


def _check_readable(files: list[PlannedFile]) -> None:
    """Refuse a file whose path others would refuse to read in the version (see
    :func:`files_problem`): one the version cannot hold is better named now, on the share."""
    found = files_problem([planned.entry for planned in files])
    if found:
        index, _, why = found
        entry = files[index].entry
        raise UsageError(
            f"cannot push {printable(entry.source)}: in the version its path {why}; rename the file"
        )


@dataclass(frozen=True)
class _Scanned:
    """One scanned folder, indexed for planning its files."""

    inventory: Inventory
    entries: dict[str, FileEntry]
    unreadable: dict[str, str]
    """Why the scan could not read a file, by the file's path in the folder."""
    root: str
    """The folder, as the files' sources start: joined as text, a ``Path`` per file cost
    a third of a no-op push's plan."""

    @classmethod
    def of(cls, inventory: Inventory) -> _Scanned:
        return cls(
            inventory,
            {entry.rel: entry for entry in inventory.files},
            {
                problem.rel: problem.detail
                for problem in inventory.problems
                if problem.kind is ScanProblemKind.UNREADABLE_FILE
            },
            inventory.root.as_posix().rstrip("/"),
        )

    def planned(self, rel: str, path: str, split: str) -> PlannedFile | FileFailed:
        """The file ``rel`` as the version holds it at ``path``, or why it cannot."""
        entry = self.entries[rel]
        if entry.sha256 is None:
            why = self.unreadable.get(rel, "the scan could not read it")
            return FileFailed(path, f"cannot read {self.inventory.absolute(rel)}: {why}")
        role = Role.LABEL if path.startswith("labels/") else Role.IMAGE
        return PlannedFile(
            entry=ManifestFile(
                path=path,
                size=entry.size,
                sha256=entry.sha256,
                content_type=_content_type(rel),
                split=split,
                role=role,
                source=f"{self.root}/{rel}",
                class_ids=entry.class_ids if role is Role.LABEL else None,
            ),
        )
