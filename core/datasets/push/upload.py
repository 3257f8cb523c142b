"""Uploading one blob: verified, and resumable when it is large.

The sha256 computed while reading is the blob's key, so a file that changed
since it was scanned is stored under its new content's hash, never under a
stale one. The server's answer is checked too: the ETag of a single PUT is the
MD5 of the body, and that of a multipart upload the MD5 of the parts' MD5s,
so a corrupted transfer is caught before the blob counts as stored.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from datayard.core.datasets.push.journal import Journal
from datayard.core.errors import DatayardError, StorageError
from datayard.core.events import CancelToken, check_cancel
from datayard.core.memory_budget import MemoryBudget
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import blob_key

log = logging.getLogger(__name__)

STALE_UPLOAD_SECONDS = 7 * 24 * 3600
"""Multipart uploads older than this are aborted rather than continued."""
_READ_ATTEMPTS = 3


class FileChangedError(DatayardError):
    """The file kept changing while it was read; it cannot be stored consistently."""


class _ContentMovedError(Exception):
    """A large file's content is not the one it was uploaded as; carries the new hash."""

    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256


@dataclass(frozen=True)
class Uploaded:
    sha256: str
    size: int
    sent: int
    """Bytes sent this time: less than ``size`` when a multipart upload resumed."""


ByteCounter = Callable[[int], None]


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


def _check_etag(key: str, expected: str, etag: str) -> None:
    # Servers that encrypt or compress objects may return other ETags: only an
    # MD5-shaped ETag can be compared, and a mismatch there is real corruption.
    if (_is_md5(etag.split("-")[0])) and etag.lower() != expected:
        raise StorageError(
            f"the store acknowledged {key} with checksum {etag}, expected {expected}: "
            "the data was corrupted in transit; run the push again"
        )


def _signature(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


def upload_blob(
    bucket: Bucket,
    journal: Journal,
    path: Path,
    *,
    part_size: int,
    parts_pool: ThreadPoolExecutor,
    parallel_parts: int,
    on_bytes: ByteCounter,
    expected_sha256: str,
    cancel: CancelToken | None = None,
    budget: MemoryBudget | None = None,
) -> Uploaded:
    """Store the file's current content as a blob and return what was stored.

    What it holds in memory at once (the file, or its parts in flight) comes
    from ``budget``, shared by the uploads of one push; without one, this
    upload has a budget of its own.
    """
    budget = budget or MemoryBudget()
    for _ in range(_READ_ATTEMPTS):
        before = _signature(path)
        try:
            if before[0] <= part_size:
                with budget.held(before[0]):
                    result = _upload_small(bucket, path, on_bytes)
            else:
                result = _upload_large(
                    bucket,
                    journal,
                    path,
                    expected_sha256,
                    part_size=part_size,
                    pool=parts_pool,
                    parallel=parallel_parts,
                    on_bytes=on_bytes,
                    cancel=cancel,
                    budget=budget,
                )
        except _ContentMovedError as moved:
            expected_sha256 = moved.sha256
        else:
            if _signature(path) == before:
                return result
        log.info("%s changed while it was read; reading it again", path)
    raise FileChangedError(f"{path} kept changing while it was pushed; push it again later")


def _upload_small(bucket: Bucket, path: Path, on_bytes: ByteCounter) -> Uploaded:
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    key = blob_key(sha)
    etag = bucket.put_bytes(key, data, metadata={"sha256": sha})
    _check_etag(key, hashlib.md5(data, usedforsecurity=False).hexdigest(), etag)
    on_bytes(len(data))
    return Uploaded(sha, len(data), len(data))


def _resumable(
    bucket: Bucket, journal: Journal, sha: str, key: str, part_size: int
) -> tuple[str, dict[int, set[str]]] | None:
    """The journal's upload of this blob, if usable, and the ETags the server holds per part.

    The server's list, not the journal's, says what is stored: a part can reach
    the server after the journal's last record of it (the push died between the
    two), or be stored again with other bytes by a later attempt.
    """
    found = journal.open_upload(sha)
    if found is None:
        return None
    usable = found.part_size == part_size and time.time() - found.started < STALE_UPLOAD_SECONDS
    on_server = bucket.uploaded_parts(key, found.upload_id) if usable else None
    if on_server is None:
        log.info("abandoning stale multipart upload of %s", key)
        if not usable:
            try:
                bucket.abort_upload(key, found.upload_id)
            except StorageError as error:
                log.debug("could not abort %s: %s", found.upload_id, error)
        journal.end_upload(sha)
        return None
    return found.upload_id, on_server


def _upload_large(
    bucket: Bucket,
    journal: Journal,
    path: Path,
    expected_sha: str,
    *,
    part_size: int,
    pool: ThreadPoolExecutor,
    parallel: int,
    on_bytes: ByteCounter,
    cancel: CancelToken | None,
    budget: MemoryBudget,
) -> Uploaded:
    """Multipart upload keyed by the expected hash (which the content must match).

    Parts are read in order (the sha256 needs every byte in order) and sent in
    parallel, at most ``parallel`` in flight, each read only once ``budget`` has
    room for it. A part the server already holds from an earlier attempt,
    recorded in the journal or not, is kept when the server lists it with the
    MD5 of the bytes just read as its ETag, and sent again otherwise: the
    completion names the file's bytes.
    """
    key = blob_key(expected_sha)
    resumed = _resumable(bucket, journal, expected_sha, key, part_size)
    if resumed is None:
        upload_id = bucket.start_upload(key, metadata={"sha256": expected_sha})
        journal.begin_upload(expected_sha, upload_id, part_size)
        held: dict[int, set[str]] = {}
    else:
        upload_id, held = resumed
        log.info("resuming %s: the server holds %d parts", key, len(held))
    sha = hashlib.sha256()
    md5s: dict[int, str] = {}
    in_flight = threading.BoundedSemaphore(parallel)
    futures: list[Future[None]] = []
    size = sent = 0

    def send(number: int, chunk: bytes, md5: str, taken: int) -> None:
        try:
            etag = bucket.upload_part(key, upload_id, number, chunk)
            _check_etag(f"{key} part {number}", md5, etag)
            on_bytes(len(chunk))
        finally:
            in_flight.release()
            budget.give_back(taken)

    with path.open("rb") as handle:
        number = 0
        while True:
            in_flight.acquire()
            taken = budget.take(part_size)
            submitted = False
            try:
                chunk = handle.read(part_size)
                if not chunk:
                    break
                number += 1
                check_cancel(cancel)
                sha.update(chunk)
                size += len(chunk)
                md5s[number] = hashlib.md5(chunk, usedforsecurity=False).hexdigest()
                if md5s[number] in held.get(number, ()):
                    on_bytes(len(chunk))
                    continue
                futures.append(pool.submit(send, number, chunk, md5s[number], taken))
                submitted = True
                sent += len(chunk)
            finally:
                if not submitted:  # the part went no further: its share is free again
                    in_flight.release()
                    budget.give_back(taken)
    for future in futures:
        future.result()
    if sha.hexdigest() != expected_sha:
        # The file is not what was scanned.
        bucket.abort_upload(key, upload_id)
        journal.end_upload(expected_sha)
        raise _ContentMovedError(sha.hexdigest())
    parts = dict(sorted(md5s.items()))
    etag = bucket.finish_upload(key, upload_id, parts)
    combined = hashlib.md5(
        b"".join(bytes.fromhex(m) for m in parts.values()), usedforsecurity=False
    )
    _check_etag(key, f"{combined.hexdigest()}-{len(parts)}", etag)
    journal.end_upload(expected_sha)
    return Uploaded(expected_sha, size, sent)
