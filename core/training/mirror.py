"""Copies a run's events and files to the store while it trains.

The store is where a run can be followed from another machine and found again
after this one is gone, so the worker mirrors as it goes: events in ordered
chunks (one object per flush, named by the sequence number of its first
event), checkpoints and results as they are saved. All uploads happen on one
background thread: a slow or unreachable store delays the mirror, never the
training. An upload that fails after the store's retry policy (every request
of :class:`~datayard.core.store.bucket.Bucket` follows
:mod:`datayard.core.store.retry`) is tried again at each flush until a newer
copy of the file replaces it; what never got through is named by
:meth:`Mirror.unstored`, which the run's last event carries.
"""

from __future__ import annotations

import itertools
import logging
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from datayard.core.errors import DatayardError
from datayard.core.store.bucket import Bucket

log = logging.getLogger(__name__)

RUNS = "runs/"
FLUSH_INTERVAL_S = 2.0


def run_key(run_id: str, name: str) -> str:
    return f"{RUNS}{run_id}/{name}"


def events_key(run_id: str, first_seq: int) -> str:
    return run_key(run_id, f"events/{first_seq:09d}.jsonl")


def artifact_key(run_id: str, relative: str) -> str:
    return run_key(run_id, f"artifacts/{relative}")


@dataclass(frozen=True)
class _Upload:
    key: str
    path: Path
    temporary: bool

    def done(self) -> None:
        """Stored, or replaced by a newer copy: a snapshot is no longer needed."""
        if self.temporary:
            self.path.unlink(missing_ok=True)


_Item = _Upload | threading.Event | None
"""An upload; an event to set once the uploads before it are done; or the end."""


class Mirror:
    """Uploads a run's event lines and files in the background, in the order they came."""

    def __init__(self, bucket: Bucket, run_id: str) -> None:
        self.bucket = bucket
        self.run_id = run_id
        self._lines: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._files: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._failed: dict[str, _Upload] = {}
        """Uploads to try again, by key; only the mirror's thread touches them."""
        self._unstored: set[str] = set()
        """Keys whose newest copy is queued, or failed: not in the store as it is now."""
        self._wake = threading.Event()
        self._snapshots = Path(tempfile.mkdtemp(prefix="datayard-mirror-"))
        self._copies = itertools.count()
        self._thread = threading.Thread(target=self._run, name="mirror", daemon=True)
        self._thread.start()

    def put_text(self, name: str, text: str) -> None:
        """Queue a small file of the run (its record) under ``runs/<run-id>/``."""
        copy = self._snapshot(name)
        copy.write_text(text, encoding="utf-8")
        self._queue(_Upload(run_key(self.run_id, name), copy, True))

    def add_line(self, seq: int, line: str) -> None:
        with self._lock:
            self._lines.append((seq, line))

    def add_file(self, path: Path, relative: str, *, snapshot: bool = False) -> None:
        """Queue ``path`` for upload as artifacts/``relative``.

        ``snapshot`` copies it first, for files the trainer rewrites in place
        (last.pt), so the upload never reads a half-written file.
        """
        key = artifact_key(self.run_id, relative)
        if snapshot:
            copy = self._snapshot(path.name)
            shutil.copyfile(path, copy)
            self._queue(_Upload(key, copy, True))
        else:
            self._queue(_Upload(key, path, False))

    def wait_files(self, timeout_s: float = 300.0) -> bool:
        """Wait until the files queued so far are stored, or failed once more; False on
        timeout.

        A run's last event is written after this, so whoever sees the run end
        finds its weights and results in the store, or the event names what is
        missing.
        """
        done = threading.Event()
        self._files.put(done)
        self._wake.set()
        return done.wait(timeout_s)

    def unstored(self) -> tuple[str, ...]:
        """The files queued that are not in the store (yet), as keys under ``runs/<run-id>/``."""
        prefix = run_key(self.run_id, "")
        with self._lock:
            return tuple(sorted(key.removeprefix(prefix) for key in self._unstored))

    def close(self, timeout_s: float = 60.0) -> None:
        """Flush what is left, waiting at most ``timeout_s`` for a slow store."""
        self._files.put(None)
        self._wake.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("the store did not take the run's last events in %.0f s", timeout_s)
        shutil.rmtree(self._snapshots, ignore_errors=True)

    def _snapshot(self, name: str) -> Path:
        return self._snapshots / f"{next(self._copies)}-{name}"

    def _queue(self, upload: _Upload) -> None:
        with self._lock:
            self._unstored.add(upload.key)
        self._files.put(upload)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            done = self._upload_files()
            self._flush_lines()
            if done:
                return

    def _upload_files(self) -> bool:
        """Store what was queued, and once more what failed before; True at the end.

        A failed file is tried again before anyone waiting is told the files are
        done, and dropped when a newer copy of it comes.
        """
        again, self._failed = self._failed, {}
        while True:
            try:
                item = self._files.get_nowait()
            except queue.Empty:
                self._store_all(again)
                return False
            if isinstance(item, _Upload):
                for older in (again.pop(item.key, None), self._failed.pop(item.key, None)):
                    if older is not None:
                        older.done()
                self._store(item)
                continue
            self._store_all(again)
            again = {}
            if item is None:
                return True
            item.set()

    def _store_all(self, uploads: dict[str, _Upload]) -> None:
        for upload in uploads.values():
            self._store(upload)

    def _store(self, upload: _Upload) -> None:
        try:
            self.bucket.put_file(upload.key, upload.path)
        except (DatayardError, OSError) as error:
            log.warning("could not store %s, will try again: %s", upload.key, error)
            self._failed[upload.key] = upload
            with self._lock:
                self._unstored.add(upload.key)  # an older copy may have been stored meanwhile
            return
        with self._lock:
            self._unstored.discard(upload.key)
        upload.done()

    def _flush_lines(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if not lines:
            return
        body = "".join(f"{line}\n" for _, line in lines)
        started = time.monotonic()
        try:
            self.bucket.put_bytes(events_key(self.run_id, lines[0][0]), body.encode("utf-8"))
        except DatayardError as error:
            log.warning("could not store events of run %s: %s", self.run_id, error)
            with self._lock:
                self._lines = lines + self._lines
            return
        log.debug("stored %d events in %.2f s", len(lines), time.monotonic() - started)
