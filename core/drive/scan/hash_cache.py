"""The scan cache: what a file's content was when it last had this size and mtime.

A rescan of a shared drive must not read terabytes again to learn that nothing
changed, so each file's sha256 (and, for a label, its class ids) is kept in the
local SQLite database under its absolute path, and trusted while the size and
the modification time in nanoseconds still match. Paths are stored as the bytes
the OS gave, so names that are not valid UTF-8 are cached like any other.

Reads and writes go in batches, one statement or transaction per batch, because
a transaction per file would make the cache slower than hashing small files.

Class ids are only as good as the label rules that read them: the table
remembers which rules it holds ids by (:data:`~datayard.core.drive.labels.RULES_VERSION`),
and when they change, the labels' rows are dropped so that they are read again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from datayard.core.database import connect, forget_on_new_rules
from datayard.core.drive.labels import RULES_VERSION

SCHEMA = """
CREATE TABLE IF NOT EXISTS scan_cache (
    path BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    class_ids TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scan_cache_label_rules (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
);
"""

_LOOKUP_BATCH = 500
"""Below SQLite's smallest limit on bound parameters (999 before 3.32)."""


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


class HashCache:
    """The ``scan_cache`` table of one database; use as a context manager."""

    def __init__(self, database: Path) -> None:
        self._connection = connect(database, SCHEMA)
        forget_on_new_rules(
            self._connection,
            "scan_cache_label_rules",
            RULES_VERSION,
            "DELETE FROM scan_cache WHERE class_ids IS NOT NULL",
        )

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def lookup(
        self, keys: Sequence[CacheKey], *, folder: str | None = None
    ) -> dict[CacheKey, Content]:
        """The cached content of the keys whose size and mtime still match.

        With ``folder``, under which every key lies, its rows are read as one
        range of the primary key instead of in batches of keys: a rescan's keys
        are most of the folder's rows, and binding, sending and matching each
        key cost more than reading them all (100,000 files: 0.56 s, then 0.15).
        """
        if folder is not None:
            return self._lookup_under(keys, folder)
        found: dict[CacheKey, Content] = {}
        for batch in _batches(keys, _LOOKUP_BATCH):
            by_path = {os.fsencode(key.path): key for key in batch}
            marks = ",".join("?" * len(by_path))
            rows = self._connection.execute(
                "SELECT path, size, mtime_ns, sha256, class_ids FROM scan_cache"
                f" WHERE path IN ({marks})",
                list(by_path),
            )
            for path, size, mtime_ns, sha256, class_ids in rows:
                key = by_path[path]
                if key.size == size and key.mtime_ns == mtime_ns:
                    found[key] = Content(sha256, _decode_ids(class_ids))
        return found

    def _lookup_under(self, keys: Sequence[CacheKey], folder: str) -> dict[CacheKey, Content]:
        wanted = {key.path: key for key in keys}
        start = os.fsencode(folder.rstrip("/") + "/")
        end = start[:-1] + b"0"  # "0" follows "/": every path under the folder sorts between
        encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
        found: dict[CacheKey, Content] = {}
        rows = self._connection.execute(
            "SELECT path, size, mtime_ns, sha256, class_ids FROM scan_cache"
            " WHERE path >= ? AND path < ?",
            (start, end),
        )
        for path, size, mtime_ns, sha256, class_ids in rows:
            key = wanted.get(path.decode(encoding, errors))  # os.fsdecode, without its calls
            if key is not None and key.size == size and key.mtime_ns == mtime_ns:
                found[key] = Content(sha256, _decode_ids(class_ids))
        return found

    def store(self, results: Iterable[tuple[CacheKey, Content]]) -> None:
        """Remember the results, all in one transaction."""
        rows = [
            (
                os.fsencode(key.path),
                key.size,
                key.mtime_ns,
                content.sha256,
                _encode_ids(content.class_ids),
            )
            for key, content in results
        ]
        if not rows:
            return
        with self._connection:
            self._connection.executemany(
                "INSERT OR REPLACE INTO scan_cache (path, size, mtime_ns, sha256, class_ids)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )


def _batches(keys: Sequence[CacheKey], size: int) -> Iterator[Sequence[CacheKey]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def _encode_ids(class_ids: tuple[int, ...] | None) -> str | None:
    return None if class_ids is None else " ".join(map(str, class_ids))


def _decode_ids(text: str | None) -> tuple[int, ...] | None:
    return None if text is None else tuple(int(token) for token in text.split())
