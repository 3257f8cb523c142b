"""Reading blobs back from the store: what is stored, and content proven by its hash.

Pull, verify and gc share these. A blob's name is its sha256, so every download
is hashed while it streams and checked against that name and the expected
size: a corrupt object in the store is caught the first time anyone reads it.
Listing goes by the two-hex-digit folders of ``blobs/sha256/``, in parallel,
because one listing answers for up to 1000 blobs where a stat answers for one.
"""

from __future__ import annotations

import hashlib
import logging
import string
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from typing import TypeVar, cast

from datayard.core.errors import PreconditionFailedError, StorageError
from datayard.core.events import CancelToken, Progress, check_cancel
from datayard.core.pool import run_parallel
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import BLOBS, blob_key, move_generation, quarantine_key
from datayard.core.store.retry import is_transient, retrying
from datayard.core.store.s3 import is_missing

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

ALL_PREFIXES = tuple(f"{n:02x}" for n in range(256))
"""Every folder under ``blobs/sha256/``: listing them all lists the whole store."""
PHASE_LISTING = "listing blobs"

_HEX = frozenset(string.hexdigits.lower())


SET_ASIDE = (
    "it was set aside: push the original files again to restore it "
    "('datayard verify --deep --repair' does so where they are still readable)"
)


class BlobCorruptError(StorageError):
    """The store returned bytes that are not the blob's content (hash or size differ)."""

    def __init__(self, message: str, sha256: str = "", etag: str = "") -> None:
        super().__init__(message, sha256, etag)
        self.sha256 = sha256
        self.etag = etag
        """The ETag of the object that was read: what :func:`set_aside` may move."""

    def __str__(self) -> str:
        return str(self.args[0])


class BlobMissingError(StorageError):
    """The blob a manifest names is not in the store."""


def fetch_blob(
    bucket: Bucket,
    sha256: str,
    size: int,
    write: Callable[[bytes], object] | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Stream a blob through ``write`` and prove it is the content its name promises.

    The caller must not trust what ``write`` received until this returns: the
    check can only happen after the last byte. ``cancel`` is checked between
    chunks, so even a large blob stops promptly.
    """
    digest = hashlib.sha256()
    received = 0
    etags: list[str] = []
    try:
        # A generator: closing it at once frees the connection when a chunk is refused.
        stream = cast(
            "Generator[bytes, None, None]",
            bucket.stream(blob_key(sha256), opened=etags.append, size=size),
        )
        with closing(stream) as chunks:
            for chunk in chunks:
                digest.update(chunk)
                received += len(chunk)
                if write is not None:
                    write(chunk)
                check_cancel(cancel)
    except StorageError as error:
        if is_missing(error):
            raise BlobMissingError(f"blob {sha256} is missing from the store") from error
        raise
    found = digest.hexdigest()
    if received != size or found != sha256:
        raise BlobCorruptError(
            f"blob {sha256} in the store is damaged: it holds {received} bytes with sha256 "
            f"{found}, expected {size} bytes",
            sha256,
            etags[0] if etags else "",
        )


def set_aside(bucket: Bucket, damaged: BlobCorruptError) -> str:
    """Move a blob proven damaged out of ``blobs/``; say what became of it, for people.

    Once it is gone, a push of the original file stores it again (a push
    trusts a stored blob by its name and size), and ``verify --deep`` passes.
    The blob generation moves, so that every machine's index of known blobs
    forgets it. The move is conditional on the ETag that was read: a blob
    that someone stored again meanwhile stays. Its damaged bytes wait under
    ``quarantine/`` until the next gc. With read-only access, it stays.
    """
    key = blob_key(damaged.sha256)
    try:
        bucket.copy(key, quarantine_key(damaged.sha256, damaged.etag))
        bucket.remove_if(key, damaged.etag)
        move_generation(bucket)
    except PreconditionFailedError:
        log.info("%s was stored again while it was being set aside; it stays", key)
        return "it was stored again meanwhile"
    except StorageError as error:
        if is_missing(error):  # another reader of the same blob set it aside first
            return SET_ASIDE
        log.warning("could not set the damaged blob %s aside: %s", key, error)
        return (
            f"it could not be set aside ({error}); run 'datayard verify --deep' with write access"
        )
    log.warning("set the damaged blob %s aside under quarantine/", key)
    return SET_ASIDE


def is_per_blob(error: StorageError) -> bool:
    """Whether an error concerns one blob only, so the others are worth trying.

    Refused credentials, a missing bucket or a store that stopped answering
    would fail every blob the same way: those stop the whole operation.
    """
    return type(error) in (StorageError, BlobCorruptError, BlobMissingError)


def with_retries(action: Callable[[], Result], what: str, cancel: CancelToken | None) -> Result:
    """Run ``action``, a read of one blob, again after an error that may pass or after
    its first hash mismatch (a bad transfer passes, a bad object does not).

    ``action`` must start from scratch each time (truncate what it wrote). The
    tries and the waits between them are those of every request
    (:mod:`datayard.core.store.retry`): a stream is tried once by the bucket,
    so they are not multiplied.
    """
    mismatched = False

    def worth_retrying(error: BaseException) -> bool:
        nonlocal mismatched
        if isinstance(error, BlobCorruptError):
            first, mismatched = not mismatched, True
            return first
        return is_transient(error)

    return retrying(action, what, cancel=cancel, worth_retrying=worth_retrying)


def list_blobs(
    bucket: Bucket,
    prefixes: Iterable[str],
    *,
    workers: int,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, dict[str, int]]:
    """The stored blobs (sha256 -> size) under the given two-hex-digit prefixes.

    Objects whose names are not a sha256 in the right folder are not blobs and
    are left out, so nothing else stored under ``blobs/`` is ever taken for one.
    """
    wanted = sorted(set(prefixes))

    def listed(prefix: str) -> dict[str, int]:
        folder = f"{BLOBS}{prefix}/"
        found: dict[str, int] = {}
        for item in bucket.objects(folder):
            sha = item.key[len(folder) :]
            if len(sha) == 64 and sha.startswith(prefix) and set(sha) <= _HEX:
                found[sha] = item.size
        return found

    stored: dict[str, int] = {}
    yield Progress(PHASE_LISTING, 0, len(wanted))
    for done, found in enumerate(
        run_parallel(listed, wanted, workers=workers, cancel=cancel, name="list-blobs"), 1
    ):
        stored.update(found)
        yield Progress(PHASE_LISTING, done, len(wanted))
    return stored
