"""Reading file contents in parallel: sha256 for every file, class ids for labels.

Threads are enough to use every core: ``hashlib`` releases the GIL while it
digests a large buffer and ``read`` releases it while it waits on the disk,
and on a network share threads also keep several reads in flight. A label is
parsed from the same bytes that were hashed, so it is read once.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass

from datayard.core.drive.labels import class_ids
from datayard.core.drive.scan.hash_cache import CacheKey, Content
from datayard.core.events import Cancelled, CancelToken, check_cancel
from datayard.core.pool import run_parallel

log = logging.getLogger(__name__)

BUFFER_SIZE = 1 << 20
"""1 MiB: big enough that hashlib releases the GIL and the disk reads ahead."""
CHUNK_FILES = 64
CHUNK_BYTES = 8 << 20
"""A chunk of files for one thread: enough to amortise a future, little enough to balance."""
MAX_PARSED_LABEL = 4 << 20
"""A .txt larger than this is not a YOLO label; it is hashed without parsing it."""


@dataclass(frozen=True, slots=True)
class Job:
    rel: str
    key: CacheKey
    parse_labels: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """The content of a job's file, or why it could not be read."""

    job: Job
    content: Content | None
    error: str = ""
    stable: bool = True
    """False when the file changed while it was read: its content is not cached."""


def default_workers() -> int:
    """Two reads in flight per core: one digesting while the other waits on the disk."""
    return min(16, 2 * (os.cpu_count() or 1))


def read_content(job: Job, cancel: CancelToken | None = None) -> Outcome:
    """Hash one file (and parse it when it is a label); never raises OSError."""
    try:
        with open(job.key.path, "rb", buffering=0) as file:
            if job.parse_labels and job.key.size <= MAX_PARSED_LABEL:
                data = file.read()
                content = Content(hashlib.sha256(data).hexdigest(), class_ids(data))
            else:
                content = Content(_digest(file, cancel))
            after = os.fstat(file.fileno())
    except OSError as error:
        return Outcome(job, None, error.strerror or str(error))
    stable = after.st_size == job.key.size and after.st_mtime_ns == job.key.mtime_ns
    return Outcome(job, content, stable=stable)


def _digest(file: io.FileIO, cancel: CancelToken | None) -> str:
    """Chunks are read as new bytes, not into one reused buffer: most files are small,
    and zeroing a 1 MiB buffer for each cost twice the reading and hashing of 20 KB."""
    digest = hashlib.sha256()
    while chunk := file.read(BUFFER_SIZE):
        digest.update(chunk)
        if len(chunk) == BUFFER_SIZE:  # more may follow: a big file stops here when cancelled
            check_cancel(cancel)
    return digest.hexdigest()


def _chunks(jobs: Iterable[Job]) -> Iterator[list[Job]]:
    chunk: list[Job] = []
    size = 0
    for job in jobs:
        chunk.append(job)
        size += job.key.size
        if len(chunk) >= CHUNK_FILES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _read_chunk(chunk: list[Job], cancel: CancelToken | None) -> list[Outcome]:
    """Read files one after the other; on cancel, return those already read."""
    outcomes: list[Outcome] = []
    try:
        for job in chunk:
            check_cancel(cancel)
            outcomes.append(read_content(job, cancel))
    except Cancelled:
        pass  # the caller checks the same token and stops
    return outcomes


def read_all(
    jobs: Iterable[Job], *, workers: int, cancel: CancelToken | None
) -> Generator[Outcome, None, None]:
    """Read the jobs' files in the shared bounded pool and yield outcomes as they finish.

    Files go to the threads in chunks, because a future per small file costs
    more than reading it. Closing the iterator (the caller stopped, e.g. on
    cancel) drops the queued chunks and waits only for those already running,
    which stop at their next file or buffer once ``cancel`` is set.
    """
    read = functools.partial(_read_chunk, cancel=cancel)
    chunks = run_parallel(read, _chunks(jobs), workers=workers, cancel=cancel, name="scan-hash")
    try:
        for outcomes in chunks:
            yield from outcomes
    finally:
        chunks.close()
