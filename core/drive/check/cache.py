"""What the check found in a file's content, kept so that unchanged files are not read again.

A push after one file changed, an inspection of a folder pushed yesterday or a
pass over a person's folders would otherwise read every image's header and
every label again. What the check finds in one file depends only on its
content and on what the check was asked of it: for an image, its extension
(an image whose content is not what its name says), whether it was decoded
whole (``deep``) and the pixel limit; for a label, how many class names its set
has. So its findings are kept in the local database under the content's
sha256 and those, and found again by any file, anywhere, with the same. What
sets add up to (duplicates, orphans, unlabelled images, unused classes) is
always worked out again from them.

The fingerprints that compare images by their looks (:mod:`.similar`) are
kept here too, under the content's sha256 alone.

A file the scan did not hash has no key and is always checked. The table
remembers the rules its results were found by (:data:`RULES_VERSION`): when
the check's rules change, it is emptied.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path

from datayard.core.database import connect, forget_on_new_rules
from datayard.core.drive.check.findings import Finding, FindingKind
from datayard.core.drive.labels import RULES_VERSION as LABEL_RULES

RULES_VERSION = (3, LABEL_RULES)
"""Raise the first number whenever a check of one file changes what it finds."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS check_cache (
    key TEXT PRIMARY KEY,
    result TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS check_cache_rules (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    version TEXT NOT NULL
);
"""
_LOOKUP_BATCH = 500
"""Below SQLite's smallest limit on bound parameters (999 before 3.32)."""
_STORE_BATCH = 500
"""Results kept per transaction: memory stays flat on a million files."""


def image_key(sha256: str, suffix: str, deep: bool, max_pixels: int | None) -> str:
    return f"image {sha256} {suffix.lower()} {int(deep)} {max_pixels}"


def label_key(sha256: str, class_count: int | None) -> str:
    return f"label {sha256} {class_count}"


def looks_key(sha256: str) -> str:
    """The key of an image's fingerprint (see :mod:`.similar`)."""
    return f"looks {sha256}"


def encode(findings: Sequence[Finding], class_ids: tuple[int, ...] | None = None) -> str:
    """A file's result as the table keeps it: without the file's own path."""
    found = [[f.kind.value, f.detail, f.line] for f in findings]
    return json.dumps({"findings": found, "class_ids": class_ids})


def decode(result: str, path: str) -> tuple[tuple[Finding, ...], tuple[int, ...] | None]:
    """The findings of ``result`` for the file at ``path``, and a label's class ids."""
    data = json.loads(result)
    findings = tuple(
        Finding(FindingKind(kind), path, detail, line) for kind, detail, line in data["findings"]
    )
    ids = data["class_ids"]
    return findings, None if ids is None else tuple(ids)


class CheckCache:
    """The ``check_cache`` table of one database; use as a context manager. Results are
    added from the check's threads and written in batches, the last on closing."""

    def __init__(self, database: Path) -> None:
        self._connection = connect(database, SCHEMA)
        self._pending: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        rules = json.dumps(RULES_VERSION)
        forget_on_new_rules(self._connection, "check_cache_rules", rules, "DELETE FROM check_cache")

    def __enter__(self) -> CheckCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._write()
        self._connection.close()

    def lookup(self, keys: Iterable[str]) -> dict[str, str]:
        """The kept results of those keys that have one (read a batch at a time: the
        keys are never all held at once)."""
        found: dict[str, str] = {}
        pending = iter(keys)
        while batch := list(dict.fromkeys(islice(pending, _LOOKUP_BATCH))):
            marks = ",".join("?" * len(batch))
            rows = self._connection.execute(
                f"SELECT key, result FROM check_cache WHERE key IN ({marks})", batch
            )
            found.update(rows)
        return found

    def add(self, key: str, result: str) -> None:
        """Keep a result (from any thread)."""
        with self._lock:
            self._pending.append((key, result))
            if len(self._pending) >= _STORE_BATCH:
                self._write()

    def _write(self) -> None:
        if self._pending:
            with self._connection:
                self._connection.executemany(
                    "INSERT OR REPLACE INTO check_cache (key, result) VALUES (?, ?)", self._pending
                )
            self._pending = []
