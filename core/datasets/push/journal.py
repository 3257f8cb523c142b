"""What a push has done so far, kept on local disk so that it survives a crash.

Two things are remembered per store (endpoint + bucket): the blobs known to be
stored (so that a push asks the server nothing about them), and multipart
uploads in progress (so that a large file continues the same upload; which of
its parts a resume keeps, the server's list of parts decides).
Pushes themselves are recorded too, so that ``push --resume`` can repeat the
last unfinished one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from datayard.core.database import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS known_blobs (
    store TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (store, sha256)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_generation (
    store TEXT PRIMARY KEY, generation TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    store TEXT NOT NULL, sha256 TEXT NOT NULL, upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL, started REAL NOT NULL,
    PRIMARY KEY (store, sha256));
CREATE TABLE IF NOT EXISTS pushes (
    id TEXT PRIMARY KEY, store TEXT NOT NULL, request TEXT NOT NULL,
    state TEXT NOT NULL, started REAL NOT NULL, version TEXT);
"""


@dataclass(frozen=True)
class OpenUpload:
    upload_id: str
    part_size: int
    started: float


class Journal:
    """Thread-safe: upload workers record blobs and uploads as they go."""

    def __init__(self, database: Path, store: str) -> None:
        self.store = store
        self._db = connect(database, _SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, rows: Iterable[tuple[object, ...]]) -> None:
        with self._lock, self._db:
            self._db.executemany(sql, rows)

    def _read(self, sql: str, args: tuple[object, ...]) -> list[sqlite3.Row | tuple[object, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args))

    # -- blobs known to be stored ------------------------------------------------

    def known(self, candidates: Iterable[str]) -> set[str]:
        wanted = list(candidates)
        found: set[str] = set()
        for start in range(0, len(wanted), 900):  # SQLite's bound-variable limit
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                f"SELECT sha256 FROM known_blobs WHERE store = ? AND sha256 IN ({marks})",
                (self.store, *chunk),
            )
            found.update(str(row[0]) for row in rows)
        return found

    def remember(self, blobs: Iterable[tuple[str, int]]) -> None:
        self._write(
            "INSERT OR REPLACE INTO known_blobs (store, sha256, size) VALUES (?, ?, ?)",
            ((self.store, sha, size) for sha, size in blobs),
        )

    def check_generation(self, generation: str) -> None:
        """Forget the known blobs when the store's blob generation moved (a gc ran)."""
        rows = self._read("SELECT generation FROM index_generation WHERE store = ?", (self.store,))
        if rows and rows[0][0] == generation:
            return
        with self._lock, self._db:
            self._db.execute("DELETE FROM known_blobs WHERE store = ?", (self.store,))
            self._db.execute(
                "INSERT OR REPLACE INTO index_generation (store, generation) VALUES (?, ?)",
                (self.store, generation),
            )

    # -- multipart uploads -------------------------------------------------------

    def open_upload(self, sha256: str) -> OpenUpload | None:
        rows = self._read(
            "SELECT upload_id, part_size, started FROM uploads WHERE store = ? AND sha256 = ?",
            (self.store, sha256),
        )
        if not rows:
            return None
        upload_id, part_size, started = rows[0]
        return OpenUpload(str(upload_id), int(str(part_size)), float(str(started)))

    def begin_upload(self, sha256: str, upload_id: str, part_size: int) -> None:
        self._write(
            "INSERT OR REPLACE INTO uploads (store, sha256, upload_id, part_size, started) "
            "VALUES (?, ?, ?, ?, ?)",
            [(self.store, sha256, upload_id, part_size, time.time())],
        )

    def end_upload(self, sha256: str) -> None:
        self._write("DELETE FROM uploads WHERE store = ? AND sha256 = ?", [(self.store, sha256)])

    # -- pushes, for --resume ----------------------------------------------------

    def begin_push(self, push_id: str, request: dict[str, object]) -> None:
        self._write(
            "INSERT OR REPLACE INTO pushes (id, store, request, state, started) "
            "VALUES (?, ?, ?, 'running', ?)",
            [(push_id, self.store, json.dumps(request), time.time())],
        )

    def end_push(self, push_id: str, state: str, version: str | None = None) -> list[str]:
        """Record how a push ended; return the ids of earlier pushes it supersedes.

        A push that publishes also completes every earlier, interrupted run of
        the same request (the same folders into the same dataset): they must not
        be offered for resuming any more, and their store markers can go.
        """
        with self._lock, self._db:
            self._db.execute(
                "UPDATE pushes SET state = ?, version = ? WHERE id = ?", (state, version, push_id)
            )
            if state != "done":
                return []
            rows = self._db.execute(
                "SELECT id FROM pushes WHERE store = ? AND state != 'done' AND request = "
                "(SELECT request FROM pushes WHERE id = ?)",
                (self.store, push_id),
            ).fetchall()
            superseded = [str(row[0]) for row in rows]
            self._db.executemany(
                "UPDATE pushes SET state = 'done', version = ? WHERE id = ?",
                [(version, old) for old in superseded],
            )
        return superseded


def last_unfinished_push(database: Path) -> tuple[str, dict[str, object]] | None:
    """The most recent push that did not publish its version, with its request."""
    db = connect(database, _SCHEMA)
    try:
        row = db.execute(
            "SELECT id, request FROM pushes WHERE state != 'done' ORDER BY started DESC LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    if row is None:
        return None
    request: dict[str, object] = json.loads(row[1])
    return str(row[0]), request
