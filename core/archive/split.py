"""From the scan of a rule's root to the datasets a pass pushes, each with its share.

The root is scanned once; each dataset gets the part of that inventory under its
folder (its files, scan problems and sets, paths still relative to the root), so
that the push neither walks nor hashes again. Dataset names come from the rule's
template, whose fields are:

- ``{owner}``: the top-level folder the dataset is in (the settings' owner for a
  set at the root itself);
- ``{set}``: the dataset's folder below the owner's, ``/`` written ``-``; the rule's
  name when the dataset is the owner's whole folder;
- ``{folder}``: the dataset's folder below the root, ``/`` written ``-``;
- ``{rule}``: the rule's name.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from datayard.core.archive.rules import Per, Rule
from datayard.core.datasets.manifest import is_name
from datayard.core.drive.inventory import DatasetSet, Inventory

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Share:
    """One dataset of a pass: its folder and its part of the scan, or why it has none."""

    folder: str
    """Relative to the rule's root, ``""`` for the root itself."""
    owner: str
    name: str
    inventory: Inventory
    problem: str = ""
    """Why it cannot be pushed (a name the store refuses, a name another folder has)."""

    @property
    def dataset(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def path(self) -> Path:
        return self.inventory.root / self.folder if self.folder else self.inventory.root


def shares(inventory: Inventory, rule: Rule, owner: str) -> list[Share]:
    """The datasets the rule makes of ``inventory``, in folder order; those it names alike
    are each given the problem (neither is pushed: which one the name means is unclear)."""
    if rule.per is Per.SET:
        grouped: dict[str, list[DatasetSet]] = {}
        for found in inventory.sets:
            grouped.setdefault(found.root, []).append(found)
        parts = [
            (folder, _narrowed(inventory, folder, sets, whole=False))
            for folder, sets in grouped.items()
        ]
    else:
        depth = 1 if rule.per is Per.PERSON else rule.depth
        folders = sorted(
            {
                "/".join(f.rel.split("/")[:depth])
                for f in inventory.files
                if f.rel.count("/") >= depth
            }
        )
        parts = [
            (folder, _narrowed(inventory, folder, inventory.sets, whole=True)) for folder in folders
        ]
    made = [
        _share(folder, part, rule, owner)
        for folder, part in sorted(parts, key=lambda item: item[0])
        if part.sets and _selected(folder, rule)
    ]
    twice = Counter(share.dataset for share in made if not share.problem)
    return [
        replace(share, problem=f"{share.dataset} is also the name of another folder's dataset")
        if twice[share.dataset] > 1 and not share.problem
        else share
        for share in made
    ]


def _selected(folder: str, rule: Rule) -> bool:
    included = not rule.include or any(fnmatch.fnmatchcase(folder, g) for g in rule.include)
    return included and not any(fnmatch.fnmatchcase(folder, g) for g in rule.exclude)


def _under(rel: str, folder: str) -> bool:
    return not folder or rel.startswith(f"{folder}/")


def _narrowed(
    inventory: Inventory, folder: str, sets: list[DatasetSet], *, whole: bool
) -> Inventory:
    """The part of ``inventory`` that is the dataset at ``folder``: with ``whole``, every
    set rooted in the folder; otherwise ``sets`` alone (a set's folder may hold others)."""
    chosen = [s for s in sets if not whole or s.root == folder or _under(s.root, folder)]
    if whole:
        files = [f for f in inventory.files if _under(f.rel, folder)]
    else:
        named = {p for s in chosen for p in _paths(s)}
        files = [f for f in inventory.files if f.rel in named]
    return Inventory(
        root=inventory.root,
        files=files,
        problems=[p for p in inventory.problems if _under(p.rel, folder)],
        sets=chosen,
    )


def _paths(found: DatasetSet) -> set[str]:
    named = {item.image for item in found.items}
    named.update(item.label for item in found.items if item.label)
    named.update(found.orphan_labels)
    if found.data_yaml:
        named.add(found.data_yaml)
    return named


def _share(folder: str, part: Inventory, rule: Rule, owner: str) -> Share:
    names = folder.split("/") if folder else []
    fields = {
        "owner": _safe(names[0]) if names else owner,
        "set": _safe("-".join(names[1:])) if len(names) > 1 else rule.name,
        "folder": _safe("-".join(names)) if names else _safe(part.root.name),
        "rule": rule.name,
    }
    rendered = rule.template.format(**fields)
    dataset_owner, _, name = rendered.rpartition("/")
    dataset_owner = dataset_owner or owner
    problem = ""
    if not (is_name(dataset_owner) and is_name(name)):
        problem = f"its folder makes the dataset name {rendered!r}, which the store refuses"
    return Share(folder, dataset_owner, name, part, problem)


def _safe(text: str) -> str:
    """A folder's name as a store name: other characters become ``-``; it starts with a
    letter or digit and keeps to 100 characters."""
    return _UNSAFE.sub("-", text).lstrip("._-")[:100]
