"""Repairing a version: damaged blobs set aside, lost ones stored again from their files.

``verify --deep`` already sets every damaged blob aside. What a repair adds
is the way back: a version's manifest names, for each file, the path it was
pushed from and the host. Where that file is still readable here and still
holds the content the version names, it is stored again; otherwise the
result lists the files to push again (from the host that has them).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.push.engine import MiB, store_id
from datayard.core.datasets.push.journal import Journal
from datayard.core.datasets.push.upload import upload_blob
from datayard.core.datasets.verify import BlobProblem, VerifyResult, verify
from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken, Finished, Progress, check_cancel, relay
from datayard.core.pool import helper_pool
from datayard.core.store.bucket import Bucket

log = logging.getLogger(__name__)

PHASE_RESTORING = "restoring"
PART_SIZE = 16 * MiB


@dataclass(frozen=True)
class Restored:
    sha256: str
    source: str
    """The file it was stored again from."""


@dataclass(frozen=True)
class RepairResult:
    verified: VerifyResult
    """What the deep check found before anything was restored."""
    restored: tuple[Restored, ...]
    lost: tuple[BlobProblem, ...]
    """Blobs still missing: their files must be pushed again."""
    sources: dict[str, tuple[str, ...]]
    """sha256 -> the paths the version's files were pushed from, for each lost blob."""
    source_host: str

    @property
    def intact(self) -> bool:
        return not self.lost


def repair(
    bucket: Bucket,
    manifest: Manifest,
    *,
    database: Path,
    workers: int,
    cancel: CancelToken | None = None,
) -> Iterator[Progress | Finished[RepairResult]]:
    """Verify deep, then store every lost blob again from a readable source file."""
    bucket = bucket.heeding(cancel)
    checking = verify(bucket, manifest, deep=True, workers=workers, cancel=cancel)
    verified = yield from relay(checking, VerifyResult)
    sources: dict[str, list[str]] = {}
    for file in manifest.files:
        sources.setdefault(file.sha256, []).append(file.source)
    here = manifest.source_host == socket.gethostname()
    restored: list[Restored] = []
    lost: list[BlobProblem] = []
    journal = Journal(database, store_id(bucket))
    try:
        with helper_pool(4, "repair-parts") as parts:
            for done, problem in enumerate(verified.problems):
                yield Progress(PHASE_RESTORING, done, len(verified.problems))
                check_cancel(cancel)
                found = (
                    _restore(bucket, journal, parts, problem, sources[problem.sha256], cancel)
                    if here
                    else None
                )
                if found is not None:
                    restored.append(Restored(problem.sha256, found))
                else:
                    lost.append(problem)
    finally:
        journal.close()
    yield Finished(
        RepairResult(
            verified=verified,
            restored=tuple(restored),
            lost=tuple(lost),
            sources={p.sha256: tuple(sources[p.sha256]) for p in lost},
            source_host=manifest.source_host,
        )
    )


def _restore(
    bucket: Bucket,
    journal: Journal,
    parts: ThreadPoolExecutor,
    problem: BlobProblem,
    candidates: list[str],
    cancel: CancelToken | None,
) -> str | None:
    """The first source file that still holds the blob's content, stored again; else ``None``."""
    for source in candidates:
        path = Path(source)
        try:
            if not path.is_file() or path.stat().st_size != problem.size:
                continue
            stored = upload_blob(
                bucket,
                journal,
                path,
                part_size=PART_SIZE,
                parts_pool=parts,
                parallel_parts=4,
                on_bytes=lambda _n: None,
                expected_sha256=problem.sha256,
                cancel=cancel,
            )
        except (DatayardError, OSError) as error:
            log.info("cannot restore %s from %s: %s", problem.sha256, source, error)
            continue
        if stored.sha256 == problem.sha256:
            return source
        log.info("%s no longer holds %s (it holds %s)", source, problem.sha256, stored.sha256)
    return None
