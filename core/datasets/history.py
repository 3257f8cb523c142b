"""A dataset's (or a model's) versions in the order of its history, and their numbers (v1, v2, ...).

History is linear: each version names as its parent the one that was newest
when it was published. So the order is the chain of parents from the newest
version back, not the order of the ids: an id is taken when a push starts, and
of two pushes at once the one that started first may publish second. Versions
that no chain reaches (pushed before versions named their parents) come first,
in the order of their ids. A version's number is its place in that order,
counted from 1; it is the same on every machine that reads the same store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class Versioned(Protocol):
    """What ordering needs of a version: a dataset's manifest or a model's version."""

    @property
    def id(self) -> str: ...

    @property
    def parent(self) -> str | None: ...


V = TypeVar("V", bound=Versioned)


def in_history_order(versions: Sequence[V]) -> list[V]:
    """The versions of one dataset (or model), oldest first."""
    by_id = {version.id: version for version in versions}
    parents = {version.parent for version in versions}
    heads = sorted(v.id for v in versions if v.id not in parents)
    chain: list[V] = []
    seen: set[str] = set()
    current = by_id.get(heads[-1]) if heads else None
    while current is not None and current.id not in seen:
        seen.add(current.id)
        chain.append(current)
        current = by_id.get(current.parent) if current.parent else None
    apart = sorted((v for v in versions if v.id not in seen), key=lambda v: v.id)
    return apart + chain[::-1]


def numbers(versions: Sequence[Versioned]) -> dict[str, int]:
    """Each version's number by its id, for the versions of one dataset (or model)."""
    return {version.id: index for index, version in enumerate(in_history_order(versions), 1)}
