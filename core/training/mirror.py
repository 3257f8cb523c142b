"""Copies a run's events and files to the store while it trains.

The store is where a run can be followed from another machine and found again
after this one is gone, so the worker mirrors as it goes: events in ordered
chunks (one object per flush, named by the sequence number of its first
event), checkpoints and results as they are saved. All uploads happen on one
background thread: a slow or unreachable store delays the mirror, never the
training, and an upload that fails is logged and retried with the next flush.
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
        self._wake = threading.Event()
        self._snapshots = Path(tempfile.mkdtemp(prefix="datayard-mirror-"))
        self._copies = itertools.count()
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="mirror", daemon=True)
        self._thread.start()

    def put_text(self, name: str, text: str) -> None:
        """Upload a small file of the run now (its record); failures are logged."""
        try:
            self.bucket.put_bytes(run_key(self.run_id, name), text.encode("utf-8"))
        except DatayardError as error:
            self.failures += 1
            log.warning("could not store %s of run %s: %s", name, self.run_id, error)

    def add_line(self, seq: int, line: str) -> None:
        with self._lock:
            self._lines.append((seq, line))

    def add_file(self, path: Path, relative: str, *, snapshot: bool = False) -> None:
        """Queue ``path`` for upload as artifacts/``relative``.

        ``snapshot`` copies it first, for files the trainer rewrites in place
        (last.pt), so the upload never reads a half-written file.
        """
        if snapshot:
            copy = self._snapshots / f"{next(self._copies)}-{path.name}"
            shutil.copyfile(path, copy)
            self._files.put(_Upload(artifact_key(self.run_id, relative), copy, True))
        else:
            self._files.put(_Upload(artifact_key(self.run_id, relative), path, False))
        self._wake.set()

    def wait_files(self, timeout_s: float = 300.0) -> bool:
        """Wait until the files queued so far are stored (or failed); False on timeout.

        A run's last event is written after this, so whoever sees the run end
        finds its weights and results in the store.
        """
        done = threading.Event()
        self._files.put(done)
        self._wake.set()
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 60.0) -> None:
        """Flush what is left, waiting at most ``timeout_s`` for a slow store."""
        self._files.put(None)
        self._wake.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("the store did not take the run's last events in %.0f s", timeout_s)
        shutil.rmtree(self._snapshots, ignore_errors=True)

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            done = self._upload_files()
            self._flush_lines()
            if done:
                return

    def _upload_files(self) -> bool:
        while True:
            try:
                item = self._files.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                self.bucket.put_file(item.key, item.path)
            except (DatayardError, OSError) as error:
                self.failures += 1
                log.warning("could not store %s: %s", item.key, error)
            finally:
                if item.temporary:
                    item.path.unlink(missing_ok=True)

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
            self.failures += 1
            log.warning("could not store events of run %s: %s", self.run_id, error)
            with self._lock:
                self._lines = lines + self._lines
            return
        log.debug("stored %d events in %.2f s", len(lines), time.monotonic() - started)
