"""Reading a data.yaml the way Ultralytics does, in terms of the scanned tree.

Ultralytics resolves ``train``/``val``/``test`` against ``path:`` (itself
relative to the YAML's folder here: the working directory means nothing on a
shared drive), retries a ``../x`` entry that does not exist as ``x``, reads
``validation`` as ``val``, and accepts either folders or .txt files listing
images. A ``path:`` that is absolute but does not exist on this machine (the
YAML was written on someone's laptop) falls back to the YAML's own folder,
which is where such a dataset almost always sits on the share.

The scan (:func:`load`) and the check (:func:`read`) share this reader, so that
the splits a check says are missing are the ones the scan found no images in.
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass
from typing import Any

import yaml

from datayard.core.drive import formats

log = logging.getLogger(__name__)

MAX_SIZE = 1 << 20
"""A data.yaml is a few lines; a YAML larger than this is something else."""

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML was built with it: same safety, ten times faster."""


@dataclass(frozen=True)
class SplitSource:
    """Where one entry of a split points, relative to the scanned root."""

    folder: str | None = None
    """A folder whose images (recursively) belong to the split; ``""`` is the root."""
    listed: tuple[str, ...] = ()
    """Images named by a list file."""
    list_file: str | None = None


_REQUIRED_KEYS = (("train",), ("val", "validation"))
"""Ultralytics refuses a data.yaml without these, though the scan reads ``valid`` too."""


class UnreadableYamlError(Exception):
    """The file is not a YAML mapping, so it cannot describe a dataset at all."""


@dataclass(frozen=True)
class DataYaml:
    rel: str
    class_names: tuple[str, ...]
    splits: dict[str, tuple[SplitSource, ...]]
    outside: tuple[str, ...] = ()
    """Entries that point outside the scanned folder (their images are not in the inventory)."""
    problems: tuple[str, ...] = ()
    """What Ultralytics would refuse in its keys, each worded to follow "data.yaml"."""
    missing: tuple[tuple[str, str], ...] = ()
    """``(key as written, entry)`` of each split entry that points at nothing."""


def load(root: str, rel: str) -> DataYaml | None:
    """Parse ``rel`` as a dataset description, or ``None`` if it is not one.

    Names and a train or val split make a YAML a dataset's; any other YAML
    (hyperparameters, a model config) is just a file of the tree.
    """
    try:
        data = _mapping(root, rel)
    except UnreadableYamlError as error:
        log.debug("%s is not a readable YAML: %s", rel, error)
        return None
    if "names" not in data:
        return None
    entries = _split_entries(data)
    if not entries.keys() & {"train", "val"}:
        return None
    return _describe(root, rel, data, entries)


def read(root: str, rel: str) -> DataYaml:
    """``rel`` whatever it lacks, for a check to say what Ultralytics would refuse.

    Raises :class:`UnreadableYamlError` when it is not a YAML mapping.
    """
    data = _mapping(root, rel)
    return _describe(root, rel, data, _split_entries(data))


def _mapping(root: str, rel: str) -> dict[Any, Any]:
    try:
        with open(os.path.join(root, rel), "rb") as file:
            data = yaml.load(file, Loader=_LOADER)
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise UnreadableYamlError(f"cannot be read as YAML: {error}") from error
    if not isinstance(data, dict):
        raise UnreadableYamlError("is not a mapping of keys to values")
    return data


def _describe(
    root: str, rel: str, data: dict[Any, Any], entries: dict[str, tuple[str, list[str]]]
) -> DataYaml:
    resolver = _Resolver(root, rel, data.get("path"))
    splits = {split: resolver.resolve_all(*entry) for split, entry in entries.items()}
    return DataYaml(
        rel,
        class_names(data.get("names")),
        splits,
        tuple(resolver.outside),
        tuple(_key_problems(data)),
        tuple(resolver.missing),
    )


def _key_problems(data: dict[Any, Any]) -> list[str]:
    problems = [
        f"has no '{keys[0]}' key" for keys in _REQUIRED_KEYS if not any(key in data for key in keys)
    ]
    names, count = data.get("names"), data.get("nc")
    if names is None and count is None:
        problems.append("has neither 'names' nor 'nc': training cannot know the classes")
    elif names is not None and not isinstance(names, list | dict):
        problems.append("'names' must be a list or a mapping of ids to names")
    elif names is not None and count is not None and count != len(names):
        problems.append(f"'nc' is {count} but 'names' lists {len(names)} classes")
    return problems


def class_names(names: Any) -> tuple[str, ...]:
    """Names as a list, or as ``{id: name}`` (ids may leave gaps, shown as the id)."""
    if isinstance(names, dict):
        by_id = {int(key): str(value) for key, value in names.items() if str(key).isdigit()}
        return tuple(by_id.get(index, str(index)) for index in range(max(by_id, default=-1) + 1))
    if isinstance(names, list):
        return tuple(str(name) for name in names)
    return ()


def _split_entries(data: dict[Any, Any]) -> dict[str, tuple[str, list[str]]]:
    """``split: (key as written, entries)``; the first key that means a split wins."""
    entries: dict[str, tuple[str, list[str]]] = {}
    for key, value in data.items():
        split = formats.SPLIT_ALIASES.get(str(key))
        if split is None or split in entries or not value:
            continue
        values = value if isinstance(value, list) else [value]
        entries[split] = (str(key), [str(item) for item in values])
    return entries


class _Resolver:
    def __init__(self, root: str, yaml_rel: str, path: Any) -> None:
        self.root = os.path.abspath(root)
        self.folder = os.path.join(self.root, posixpath.dirname(yaml_rel))
        self.base = self._base(str(path) if path else "")
        self.outside: list[str] = []
        self.missing: list[tuple[str, str]] = []

    def _base(self, path: str) -> str:
        if not path:
            return self.folder
        base = os.path.normpath(os.path.join(self.folder, path))
        if os.path.isabs(path) and not os.path.isdir(base):
            log.info(
                "path: %s does not exist here; reading the splits from the YAML's folder", path
            )
            return self.folder
        return base

    def resolve_all(self, key: str, values: list[str]) -> tuple[SplitSource, ...]:
        sources = (self.resolve(key, value) for value in values)
        return tuple(source for source in sources if source is not None)

    def resolve(self, key: str, value: str) -> SplitSource | None:
        target = os.path.normpath(os.path.join(self.base, value))
        exists = os.path.exists(target)
        if not exists and value.startswith("../"):
            target = os.path.normpath(os.path.join(self.base, value[3:]))
            exists = os.path.exists(target)
        if not exists:
            self.missing.append((key, value))
        rel = self._rel(target)
        if rel is None:
            self.outside.append(value)
            return None
        if formats.is_label(target) and os.path.isfile(target):
            return SplitSource(listed=self._read_list(target), list_file=rel)
        return SplitSource(folder=rel)

    def _rel(self, target: str) -> str | None:
        rel = os.path.relpath(target, self.root)
        if rel == os.curdir:
            return ""
        if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
            return None
        return rel.replace(os.sep, "/")

    def _read_list(self, list_file: str) -> tuple[str, ...]:
        """Images named in a list file: ``./x`` from the file's folder, others from ``path:``."""
        try:
            with open(list_file, encoding="utf-8", errors="surrogateescape") as file:
                lines = [line.strip() for line in file]
        except OSError as error:
            log.debug("cannot read %s: %s", list_file, error)
            return ()
        listed = []
        for line in filter(None, lines):
            start = os.path.dirname(list_file) if line.startswith("./") else self.base
            rel = self._rel(os.path.normpath(os.path.join(start, line)))
            if rel is not None:
                listed.append(rel)
        return tuple(listed)
