"""What counts as an image, a label, a dataset description, or junk.

The image list is the one Ultralytics reads, so a set Datayard accepts is a set
a training run can load.
"""

from __future__ import annotations

from pathlib import PurePath

IMAGE_SUFFIXES = frozenset(
    {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"}
)
LABEL_SUFFIX = ".txt"
DATA_YAML_SUFFIXES = frozenset({".yaml", ".yml"})
SPLIT_NAMES = ("train", "val", "test")
"""Canonical split names; ``valid`` and ``validation`` are read as ``val``."""
SPLIT_ALIASES = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}

_JUNK_NAMES = frozenset({"thumbs.db", "ehthumbs.db", ".ds_store", "desktop.ini", ".directory"})


def is_image(name: str) -> bool:
    return PurePath(name).suffix.lower() in IMAGE_SUFFIXES


def is_label(name: str) -> bool:
    return PurePath(name).suffix.lower() == LABEL_SUFFIX


def is_junk(name: str) -> bool:
    """System and editor droppings that are never part of a dataset.

    ``~$`` files are Office lock files; ``._`` files are macOS resource forks
    copied onto SMB shares.
    """
    lower = name.lower()
    return lower in _JUNK_NAMES or name.startswith(("~$", "._"))


def is_hidden(name: str) -> bool:
    return name.startswith(".")
