"""Listing one folder of the shared drive for a browser: folders and images only.

A browser lists folders one at a time, as the user opens them, so this is
``os.scandir`` of a single folder (no walk). The listing runs in a worker
thread and is sorted there, so that a front end only inserts ready rows: on a
100,000-file folder the sort alone would otherwise freeze a window.

The roots are ordered here too, because finding the owner's own folder means
touching the share, which may hang when it is unreachable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from datayard.core.drive import formats
from datayard.core.events import CancelToken, Finished, Progress, Throttle, check_cancel
from datayard.core.stepwise import release_stepwise, sorted_stepwise

PHASE = "listing"

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[str | int, ...]:
    """``img_9`` before ``img_10``, case-insensitively, as file managers sort."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in _DIGITS.split(name))


SortKey = tuple[bool, tuple[str | int, ...], str]


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    is_dir: bool
    size: int
    mtime_ns: int

    @property
    def sort_key(self) -> SortKey:
        """Folders first, then natural name order (the name itself breaks ties)."""
        return (not self.is_dir, natural_key(self.name), self.name)


@dataclass(frozen=True)
class Listing:
    folder: Path
    mtime_ns: int
    """The folder's own modification time when listed: what badges are keyed by."""
    entries: list[Entry]
    """Sorted by :attr:`Entry.sort_key`. The only list of them: a caller done with a big
    listing can let them go a slice at a time (:func:`~datayard.core.stepwise.release_stepwise`)."""


def shown(name: str, is_dir: bool) -> bool:
    """Folders and images a browser shows; junk and hidden entries never."""
    if formats.is_junk(name) or formats.is_hidden(name):
        return False
    return is_dir or formats.is_image(name)


def list_folder(
    folder: Path, *, cancel: CancelToken | None = None
) -> Iterator[Progress | Finished[Listing]]:
    """List ``folder``: ``Progress`` while reading a big one, then ``Finished(listing)``.

    Raises ``OSError`` when the folder cannot be read; the caller words it.
    """
    throttle = Throttle()
    entries: list[Entry] = []
    with os.scandir(folder) as scanner:
        for item in scanner:
            try:
                is_dir = item.is_dir()
                if not shown(item.name, is_dir):
                    continue
                info = item.stat()
            except OSError:
                continue  # vanished or a broken link: nothing to show
            size = 0 if is_dir else info.st_size
            entries.append(Entry(item.name, is_dir, size, info.st_mtime_ns))
            if throttle.due():
                check_cancel(cancel)
                yield Progress(PHASE, len(entries), current=item.name)
    check_cancel(cancel)
    entries = _sorted(entries)
    yield Finished(Listing(folder, folder.stat().st_mtime_ns, entries))


def _sorted(entries: list[Entry]) -> list[Entry]:
    """Each key computed once (a natural key takes a while), sorted without a long GIL hold."""
    decorated = sorted_stepwise((entry.sort_key, entry) for entry in entries)
    ordered = [entry for _, entry in decorated]
    release_stepwise(decorated)
    return ordered


@dataclass(frozen=True)
class Root:
    path: Path
    owned: bool
    """The owner's own folder, or a folder holding it: shown first."""
    owner_folder: Path | None = None
    """The sub-folder named like the owner, which a browser opens on start."""
    problem: str | None = None
    """Why the root cannot be browsed, in words for the user; ``None`` when it can."""


def _owner_names(owner: str) -> set[str]:
    """``Alice Martin`` also matches ``alice.martin``, ``alice_martin`` and ``alice-martin``."""
    base = owner.strip().casefold()
    return {base, *(re.sub(r"[\s._-]+", sep, base) for sep in (" ", ".", "_", "-", ""))}


def owns(path: Path, owner: str) -> bool:
    """Does the folder's last component name the owner?"""
    return path.name.casefold() in _owner_names(owner)


def order_roots(roots: Sequence[str], owner: str) -> list[Root]:
    """The configured roots, the owner's own folder first, each checked for access.

    The rule: a root named like the owner (``.../Alice Martin`` for owner
    ``alice.martin``), or holding a sub-folder named like the owner
    (``/mnt/share/users`` with ``users/alice.martin``), comes first; otherwise
    the order of the settings is kept. Touches the disk: call it off the UI
    thread.
    """
    described = [_describe(Path(os.path.expanduser(root)), owner) for root in roots]
    return sorted(described, key=lambda root: not root.owned)


def _describe(path: Path, owner: str) -> Root:
    owned = owns(path, owner)
    try:
        if not path.is_dir():
            missing = "this folder does not exist"
            return Root(path, owned, problem="this is a file" if path.exists() else missing)
        if owned:
            return Root(path, owned)
        names = _owner_names(owner)
        with os.scandir(path) as scanner:
            found = (item.path for item in scanner if item.name.casefold() in names)
            mine = next((path for path in found if os.path.isdir(path)), None)
    except OSError as error:
        return Root(path, owned, problem=f"cannot be read: {error.strerror or error}")
    return Root(path, mine is not None, Path(mine) if mine else None)
