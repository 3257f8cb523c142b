"""Checking that every blob of a version is in the store, intact.

The quick check lists only the blob folders the version uses (one request per
thousand blobs) and compares sizes: it finds deleted or truncated blobs in
seconds. The deep check also downloads and hashes every blob, the only way to
find an object whose bytes changed in place; a damaged blob is set aside
(:func:`~datayard.core.datasets.blobs.set_aside`), so that pushing its file
again restores it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from datayard.core.datasets.blobs import (
    BlobCorruptError,
    BlobMissingError,
    fetch_blob,
    is_per_blob,
    list_blobs,
    set_aside,
    with_retries,
)
from datayard.core.datasets.manifest import Manifest
from datayard.core.errors import StorageError
from datayard.core.events import CancelToken, Finished, Progress, Throttle
from datayard.core.pool import run_parallel
from datayard.core.store.bucket import Bucket

log = logging.getLogger(__name__)

PHASE_VERIFYING = "verifying"
DEFAULT_WORKERS = 8
MISSING = "missing from the store"


@dataclass(frozen=True)
class BlobProblem:
    sha256: str
    size: int
    """The size the manifest gives."""
    problem: str
    paths: tuple[str, ...]
    """The version's files that have this content."""


@dataclass(frozen=True)
class VerifyResult:
    ref: str
    files: int
    blobs: int
    deep: bool
    problems: tuple[BlobProblem, ...]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(
    bucket: Bucket,
    manifest: Manifest,
    *,
    deep: bool = False,
    workers: int = DEFAULT_WORKERS,
    cancel: CancelToken | None = None,
) -> Iterator[Progress | Finished[VerifyResult]]:
    """Compare the store with ``manifest``; ``deep`` also re-hashes every blob."""
    bucket = bucket.heeding(cancel)
    needed = manifest.blobs
    prefixes = {sha[:2] for sha in needed}
    stored = yield from list_blobs(bucket, prefixes, workers=workers, cancel=cancel)
    problems: dict[str, str] = {}
    for sha, size in needed.items():
        if sha not in stored:
            problems[sha] = MISSING
        elif stored[sha] != size:
            problems[sha] = f"the store holds {stored[sha]} bytes, the version {size}"
    if deep:
        # Blobs of the wrong size are read too: that proves them damaged and sets them aside.
        present = {sha: size for sha, size in needed.items() if sha in stored}
        problems.update((yield from _rehash(bucket, present, workers, cancel)))
    paths: dict[str, list[str]] = defaultdict(list)
    for file in manifest.files:
        paths[file.sha256].append(file.path)
    found = tuple(
        BlobProblem(sha, needed[sha], problem, tuple(paths[sha]))
        for sha, problem in sorted(problems.items())
    )
    log.info("verified %s: %d of %d blobs have problems", manifest.ref, len(found), len(needed))
    yield Finished(VerifyResult(manifest.ref, len(manifest.files), len(needed), deep, found))


def _rehash(
    bucket: Bucket, blobs: dict[str, int], workers: int, cancel: CancelToken | None
) -> Generator[Progress, None, dict[str, str]]:
    """Download every blob and hash it; the problem of each blob that fails."""

    def check(sha: str) -> tuple[str, str]:
        try:
            with_retries(lambda: fetch_blob(bucket, sha, blobs[sha], cancel=cancel), sha, cancel)
        except BlobCorruptError as error:
            return (
                sha,
                f"damaged: its content does not match its sha256; {set_aside(bucket, error)}",
            )
        except BlobMissingError:
            return sha, MISSING
        except StorageError as error:
            if not is_per_blob(error):
                raise
            return sha, str(error)
        return sha, ""

    problems: dict[str, str] = {}
    total_bytes = sum(blobs.values())
    done = done_bytes = 0
    throttle = Throttle()
    yield Progress(PHASE_VERIFYING, 0, len(blobs), 0, total_bytes)
    for sha, problem in run_parallel(check, blobs, workers=workers, cancel=cancel, name="verify"):
        done += 1
        done_bytes += blobs[sha]
        if problem:
            problems[sha] = problem
        if throttle.due():
            yield Progress(PHASE_VERIFYING, done, len(blobs), done_bytes, total_bytes, sha)
    yield Progress(PHASE_VERIFYING, done, len(blobs), done_bytes, total_bytes)
    return problems
