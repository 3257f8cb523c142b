"""The inventory of a scanned folder: the contract between scan, check and push.

Paths inside an inventory are POSIX strings relative to the scanned root, so an
inventory means the same thing on every machine that mounts the share.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath


class FileKind(StrEnum):
    IMAGE = "image"
    LABEL = "label"
    DATA_YAML = "data.yaml"
    OTHER = "other"


class ScanProblemKind(StrEnum):
    UNREADABLE_FOLDER = "unreadable folder"
    UNREADABLE_FILE = "unreadable file"
    SYMLINK_LOOP = "symlink loop"
    BROKEN_SYMLINK = "broken symlink"


class LayoutKind(StrEnum):
    DATA_YAML = "data.yaml"
    """A data.yaml names the splits and the classes."""
    SPLIT_TREE = "images/labels tree"
    """``images/<split>`` and ``labels/<split>`` side by side, no data.yaml."""
    FLAT_PAIRS = "image + label pairs"
    """Images and same-name .txt labels in the same folder."""
    IMAGES_ONLY = "unlabelled images"
    """A folder of images without any label."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    rel: str
    size: int
    mtime_ns: int
    kind: FileKind
    sha256: str | None = None
    class_ids: tuple[int, ...] | None = None
    """For a label file: the class id of each object, in file order (lines that
    do not start with a class id are left out); ``None`` when not read."""

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.rel).suffix.lower()


@dataclass(frozen=True, slots=True)
class ScanProblem:
    rel: str
    kind: ScanProblemKind
    detail: str


@dataclass(frozen=True, slots=True)
class SetItem:
    """One image of a dataset set, with its label file if it has one."""

    image: str
    label: str | None
    split: str
    """``train``, ``val``, ``test``, or ``""`` when the layout has no splits."""


@dataclass(frozen=True, slots=True)
class SharedSplit:
    """Images a data.yaml lists in two splits: the set holds them once, in the first."""

    split: str
    """The split that lists them again (``val``)."""
    first: str
    """The split that holds them (``train``)."""
    images: int
    whole: bool
    """Every image of ``split`` is one of ``first``'s: the same folder, or one inside it."""


@dataclass(frozen=True)
class DatasetSet:
    """A group of images that trains together, as its layout on disk says."""

    root: str
    layout: LayoutKind
    items: tuple[SetItem, ...]
    class_names: tuple[str, ...] = ()
    data_yaml: str | None = None
    orphan_labels: tuple[str, ...] = ()
    """Label files of this set for which no image exists."""
    shared: tuple[SharedSplit, ...] = ()
    """Images that its data.yaml lists in more than one split (held once)."""

    @property
    def splits(self) -> Counter[str]:
        return Counter(item.split for item in self.items)


@dataclass
class Inventory:
    root: Path
    files: list[FileEntry] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    sets: list[DatasetSet] = field(default_factory=list)
    junk_skipped: int = 0
    hidden_skipped: int = 0

    def of_kind(self, kind: FileKind) -> list[FileEntry]:
        return [entry for entry in self.files if entry.kind is kind]

    def absolute(self, rel: str) -> Path:
        return self.root / rel
