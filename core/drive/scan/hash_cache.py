"""The scan cache: what each file of a folder held when it last had its size and mtime.

A rescan of a shared drive must not read terabytes again to learn that nothing
changed, so what reading a file taught (its sha256 and, for a label, its class
ids) is kept in the local SQLite database, and trusted while the file's size and
modification time in nanoseconds still match.

It is kept as one row per folder, not one per file: a rescan lists every folder
anyway, and a folder's row is one small read where files' rows cost a row each
to fetch, decode and match (100,000 files: 0.55 s as files, 0.05 s as folders).
A row names every file the folder held, read or not (a video is listed without
a hash), so that a folder whose files all match it is known unchanged without a
write, and one that does not match is written again whole. The row is JSON,
name -> ``[size, mtime_ns, sha256 or null, class ids or null]``: parsed in C,
and safe to read whoever wrote it. Folders are stored under their path as the
bytes the OS gave; JSON keeps the names that are not valid UTF-8 as Python
decodes them.

Class ids are only as good as the label rules that read them: each row says
which rules (:data:`~datayard.core.drive.labels.RULES_VERSION`) its ids come
from, and the labels of a row by other rules are left out of it when it is
read, so that they are read again.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

from datayard.core.database import connect
from datayard.core.drive.labels import RULES_VERSION

SCHEMA = """
CREATE TABLE IF NOT EXISTS scan_folders (
    folder BLOB PRIMARY KEY,
    label_rules INTEGER NOT NULL,
    files TEXT NOT NULL
) WITHOUT ROWID;
"""

Known: TypeAlias = list[Any]
"""What a folder's row holds for one file: ``[size, mtime_ns, sha256, class_ids]``,
the last two ``None`` when the file was not read (class ids: a list)."""
Recall: TypeAlias = Callable[[str], Mapping[str, Known]]
"""The files a folder's row holds, by name, given the folder's path: :meth:`HashCache.recall`."""


@dataclass(frozen=True, slots=True)
class Content:
    """What reading a file taught us."""

    sha256: str
    class_ids: tuple[int, ...] | None = None


class CacheKey(NamedTuple):
    """A tuple, not a dataclass: hashed a few times per file, it must be cheap."""

    path: str
    """Absolute path of the file."""
    size: int
    mtime_ns: int


def known(size: int, mtime_ns: int, content: Content | None) -> Known:
    """A file's entry in its folder's row."""
    if content is None:
        return [size, mtime_ns, None, None]
    ids = None if content.class_ids is None else list(content.class_ids)
    return [size, mtime_ns, content.sha256, ids]


class HashCache:
    """The ``scan_folders`` table of one database; use as a context manager."""

    def __init__(self, database: Path) -> None:
        self._connection = connect(database, SCHEMA)
        _adopt_file_rows(self._connection)

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def recall(self, folder: str) -> dict[str, Known]:
        """The files the folder's row holds, by name; ``{}`` when it has none.

        The caller compares sizes and mtimes: only it has the folder's listing.
        """
        row = self._connection.execute(
            "SELECT label_rules, files FROM scan_folders WHERE folder = ?",
            (os.fsencode(folder),),
        ).fetchone()
        if row is None:
            return {}
        try:
            files: dict[str, Known] = json.loads(row[1])
        except ValueError:
            return {}  # a damaged row is a folder to read again, not an error
        if row[0] != RULES_VERSION:
            return {name: entry for name, entry in files.items() if entry[3] is None}
        return files

    def remember(self, folders: Mapping[str, Mapping[str, Known]]) -> None:
        """Replace the rows of these folders (path -> their files), in one transaction."""
        if not folders:
            return
        with self._connection:
            self._connection.executemany(
                "INSERT OR REPLACE INTO scan_folders (folder, label_rules, files) VALUES (?, ?, ?)",
                [
                    (os.fsencode(folder), RULES_VERSION, _dumps(files))
                    for folder, files in folders.items()
                ],
            )

    def lookup(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Content]:
        """The cached content of the keys whose size and mtime still match."""
        found: dict[CacheKey, Content] = {}
        for folder, named in _by_folder(keys).items():
            files = self.recall(folder)
            for name, key in named.items():
                entry = files.get(name)
                if entry and entry[2] and entry[0] == key.size and entry[1] == key.mtime_ns:
                    ids = None if entry[3] is None else tuple(entry[3])
                    found[key] = Content(entry[2], ids)
        return found

    def store(self, results: Iterable[tuple[CacheKey, Content]]) -> None:
        """Add what was learnt of these files to their folders' rows, in one transaction.

        The rows are read and written under one write lock, so that two
        processes adding files to one folder both keep theirs.
        """
        by_folder = _by_folder(results)
        if not by_folder:
            return
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            for folder, named in by_folder.items():
                files = self.recall(folder)
                for name, (key, content) in named.items():
                    files[name] = known(key.size, key.mtime_ns, content)
                self._connection.execute(
                    "INSERT OR REPLACE INTO scan_folders (folder, label_rules, files)"
                    " VALUES (?, ?, ?)",
                    (os.fsencode(folder), RULES_VERSION, _dumps(files)),
                )
        except BaseException:
            self._connection.rollback()
            raise
        self._connection.commit()


def _by_folder(items: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Keys (or ``(key, content)`` pairs) by their folder, then by their name."""
    grouped: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    for item in items:
        key = item if isinstance(item, CacheKey) else item[0]
        folder, _, name = key.path.rpartition("/")
        grouped[folder or "/"][name] = item
    return grouped


def _dumps(files: Mapping[str, Known]) -> str:
    return json.dumps(files, separators=(",", ":"))


def _adopt_file_rows(connection: sqlite3.Connection) -> None:
    """Move the rows of the per-file table of earlier versions into folder rows, once.

    A user's cache may vouch for terabytes: dropping it would read them all again.
    """
    legacy = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'scan_cache'"
    if connection.execute(legacy).fetchone() is None:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        if connection.execute(legacy).fetchone() is not None:  # not moved by another process
            _move_file_rows(connection)
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


def _move_file_rows(connection: sqlite3.Connection) -> None:
    rules = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'scan_cache_label_rules'"
    ).fetchone()
    held = (
        connection.execute("SELECT version FROM scan_cache_label_rules").fetchone()
        if rules
        else None
    )
    ids_valid = held == (RULES_VERSION,)
    folders: defaultdict[bytes, dict[str, Known]] = defaultdict(dict)
    rows = connection.execute("SELECT path, size, mtime_ns, sha256, class_ids FROM scan_cache")
    for path, size, mtime_ns, sha256, class_ids in rows:
        if class_ids is not None and not ids_valid:
            continue
        folder, _, name = bytes(path).rpartition(b"/")
        ids = None if class_ids is None else [int(token) for token in class_ids.split()]
        folders[folder or b"/"][os.fsdecode(name)] = [size, mtime_ns, sha256, ids]
    connection.executemany(
        "INSERT OR REPLACE INTO scan_folders (folder, label_rules, files) VALUES (?, ?, ?)",
        [(folder, RULES_VERSION, _dumps(files)) for folder, files in folders.items()],
    )
    connection.execute("DROP TABLE scan_cache")
    connection.execute("DROP TABLE IF EXISTS scan_cache_label_rules")
