"""Blobs of stored versions kept on the local disk, for looking at a version in the app.

A blob is named by its sha256, so a file here never goes stale: the only
question is room. The folder is kept under its limit by removing the blobs
used least recently (a hit touches its file), so browsing version after
version never fills the disk; a removed blob is simply fetched again. Every
download is proven against its name (:func:`fetch_blob`) before it is kept.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from datayard.core.atomic import atomic_file
from datayard.core.datasets.blobs import fetch_blob
from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken
from datayard.core.store.bucket import Bucket

LIMIT = 1 << 30
"""Bytes kept at most (1 GiB): hundreds of full-size photos to click through again."""
KEPT_AFTER_PRUNING = 0.8
"""Share of the limit left after a clean-up, so that each new blob does not start one."""
_MODE = 0o600
"""Readable by the user only: the images may be ones others may not see."""


class BlobCacheError(DatayardError):
    """The cache folder cannot be written: the blob was fetched but cannot be kept."""


class BlobCache:
    """Blobs of ``bucket`` under ``folder``, at most ``limit`` bytes of them; thread-safe."""

    def __init__(self, folder: Path, bucket: Bucket, limit: int = LIMIT) -> None:
        self.folder = folder
        self.bucket = bucket
        self.limit = limit
        self.fetched = 0
        """Blobs downloaded through this object: what a second look spares."""
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}
        """A lock per blob being downloaded."""
        self._total: int | None = None
        """Bytes in the folder, counted at the first download and kept up to date."""

    def path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / sha256

    def fetch(self, sha256: str, size: int, cancel: CancelToken | None = None) -> Path:
        """The local file of the blob, downloaded now unless it is here already.

        Raises :class:`~datayard.core.datasets.blobs.BlobMissingError` and the
        store's other errors, and :class:`BlobCacheError`.
        """
        with self._lock:
            gate = self._fetching.setdefault(sha256, threading.Lock())
        try:
            with gate:  # one download of a blob that the grid and the viewer ask for at once
                return self._fetch(sha256, size, cancel)
        finally:
            with self._lock:
                self._fetching.pop(sha256, None)

    def _fetch(self, sha256: str, size: int, cancel: CancelToken | None) -> Path:
        target = self.path(sha256)
        try:
            os.utime(target)  # used now: the last to be pruned
            return target
        except FileNotFoundError:
            pass
        except OSError as error:
            raise _cache_error(self.folder, error) from error
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(target, mode=_MODE) as out:
                fetch_blob(self.bucket.heeding(cancel), sha256, size, out.write, cancel)
        except OSError as error:
            raise _cache_error(self.folder, error) from error
        with self._lock:
            self.fetched += 1
            self._total = self._measure() if self._total is None else self._total + size
            if self._total > self.limit:
                self._total = self._prune(int(self.limit * KEPT_AFTER_PRUNING), target)
        return target

    def _files(self) -> list[tuple[float, int, Path]]:
        """Every blob file with its last use and size."""
        found = []
        for path in self.folder.glob("??/*"):
            try:
                info = path.stat()
            except OSError:
                continue  # removed meanwhile, by another window of the app
            found.append((info.st_mtime, info.st_size, path))
        return found

    def _measure(self) -> int:
        return sum(size for _, size, _ in self._files())

    def _prune(self, goal: int, keep: Path) -> int:
        """Remove the blobs used least recently until ``goal`` bytes remain, never ``keep``
        (the one its caller is about to read, even if larger than the limit); the bytes left."""
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= goal:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
        return total


def _cache_error(folder: Path, error: OSError) -> BlobCacheError:
    return BlobCacheError(
        f"the image cache {folder} cannot be written ({error.strerror or error}): "
        "free some disk space or check the folder's permissions"
    )
