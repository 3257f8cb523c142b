"""The scan operation: walk, read what must be read, recognise the sets.

Contents are read after the walk, not during it, so that the hashing phase
knows its total (a real progress bar with bytes) and the cache can be asked
about all files in a few batched queries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TypeAlias

from datayard.core.drive import formats
from datayard.core.drive.inventory import (
    FileEntry,
    FileKind,
    Inventory,
    ScanProblem,
    ScanProblemKind,
)
from datayard.core.drive.scan import data_yaml, walker
from datayard.core.drive.scan.hash_cache import CacheKey, Content, HashCache
from datayard.core.drive.scan.hashing import Job, default_workers, read_all
from datayard.core.drive.scan.layout import detect_sets
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, Finished, Progress, Throttle, check_cancel

log = logging.getLogger(__name__)

PHASE_SCANNING = walker.PHASE
PHASE_HASHING = "hashing"
PHASE_LABELS = "reading labels"
"""The content phase when only labels are read (``hash_files=False``)."""

_STORE_BATCH = 1000
"""Results saved to the cache per transaction while hashing."""

ScanEvent: TypeAlias = Progress | Finished[Inventory]


def scan(
    root: Path,
    *,
    database: Path | None = None,
    include_hidden: bool = False,
    hash_files: bool = True,
    workers: int | None = None,
    cancel: CancelToken | None = None,
) -> Generator[ScanEvent, None, None]:
    """Inventory a folder: progress events, then ``Finished(inventory)``.

    ``database`` holds the hash cache (``None``: no cache, everything is read).
    With ``hash_files=False`` images are not read at all, for a quick browse;
    label files are still read (they are small, and the per-class summary needs
    them), hashed on the way, and cached. Raises :class:`UsageError` when
    ``root`` is not a folder, and :class:`~datayard.core.events.Cancelled` when
    ``cancel`` is set, after saving the hashes computed so far.
    """
    folder = _check_root(root)
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}")
    count = workers or default_workers()
    found = yield from walker.walk(str(folder), include_hidden=include_hidden, cancel=cancel)
    files, yamls = _classify_yamls(str(folder), found.files)
    problems = list(found.problems)
    to_read = [
        entry for entry in files if entry.kind is FileKind.LABEL or (hash_files and _hashed(entry))
    ]
    phase = PHASE_HASHING if hash_files else PHASE_LABELS
    contents = yield from _read_contents(folder, to_read, phase, database, count, cancel, problems)
    files = [_with_content(entry, contents.get(entry.rel)) for entry in files]
    inventory = Inventory(
        root=folder,
        files=files,
        problems=sorted(problems, key=lambda problem: problem.rel),
        sets=detect_sets(str(folder), files, yamls),
        junk_skipped=found.junk_skipped,
        hidden_skipped=found.hidden_skipped,
    )
    log.info("scanned %s: %d files, %d sets", folder, len(files), len(inventory.sets))
    yield Finished(inventory)


def _check_root(root: Path) -> Path:
    # abspath, not resolve: paths stay as the user sees them, through any link.
    folder = Path(os.path.abspath(root))
    if not folder.exists():
        raise UsageError(f"{root} does not exist")
    if not folder.is_dir():
        raise UsageError(f"{root} is not a folder")
    return folder


def _hashed(entry: FileEntry) -> bool:
    """Only what a dataset is made of; other files (videos, archives) are not read."""
    return entry.kind is not FileKind.OTHER


def _classify_yamls(
    root: str, files: list[FileEntry]
) -> tuple[list[FileEntry], list[data_yaml.DataYaml]]:
    yamls = []
    classified = []
    for entry in files:
        if (
            entry.kind is FileKind.OTHER  # images and labels are never YAML: no suffix to cut
            and walker.suffix_of(entry.rel) in formats.DATA_YAML_SUFFIXES
            and entry.size <= data_yaml.MAX_SIZE
        ):
            parsed = data_yaml.load(root, entry.rel)
            if parsed is not None:
                yamls.append(parsed)
                entry = replace(entry, kind=FileKind.DATA_YAML)
        classified.append(entry)
    return classified, yamls


def _with_content(entry: FileEntry, content: Content | None) -> FileEntry:
    if content is None:
        return entry
    # The constructor, not dataclasses.replace: this runs once per file.
    return FileEntry(
        entry.rel, entry.size, entry.mtime_ns, entry.kind, content.sha256, content.class_ids
    )


def _read_contents(
    root: Path,
    entries: Sequence[FileEntry],
    phase: str,
    database: Path | None,
    workers: int,
    cancel: CancelToken | None,
    problems: list[ScanProblem],
) -> Generator[Progress, None, dict[str, Content]]:
    """Contents by relative path: from the cache when still valid, else read.

    Whatever was read is saved to the cache in batches, and once more on the
    way out, whether the loop ends, is cancelled, or is abandoned by its caller.
    """
    base = str(root)  # joined by hand below: os.path.join is slow for 100k files
    keys = [CacheKey(f"{base}/{entry.rel}", entry.size, entry.mtime_ns) for entry in entries]
    bytes_total = sum(entry.size for entry in entries)
    with ExitStack() as stack:
        cache = stack.enter_context(HashCache(database)) if database else None
        cached = cache.lookup(keys, folder=base) if cache else {}
        contents: dict[str, Content] = {}
        jobs: list[Job] = []  # only for the files to read: most of a rescan's are cached
        for entry, key in zip(entries, keys, strict=True):
            content = cached.get(key)
            if content is None:
                jobs.append(Job(entry.rel, key, entry.kind is FileKind.LABEL))
            else:
                contents[entry.rel] = content
        done = len(contents)
        bytes_done = bytes_total - sum(job.key.size for job in jobs)
        total = len(entries)
        yield Progress(phase, done, total, bytes_done, bytes_total)
        unsaved: list[tuple[CacheKey, Content]] = []
        if cache:
            stack.callback(lambda: cache.store(unsaved))
        throttle = Throttle()
        outcomes = read_all(jobs, workers=workers, cancel=cancel)
        stack.callback(outcomes.close)
        for outcome in outcomes:
            done += 1
            bytes_done += outcome.job.key.size
            if outcome.content is None:
                problems.append(
                    ScanProblem(outcome.job.rel, ScanProblemKind.UNREADABLE_FILE, outcome.error)
                )
            else:
                contents[outcome.job.rel] = outcome.content
                if outcome.stable:
                    unsaved.append((outcome.job.key, outcome.content))
            if cache and len(unsaved) >= _STORE_BATCH:
                cache.store(unsaved)
                unsaved.clear()
            check_cancel(cancel)
            if throttle.due():
                yield Progress(phase, done, total, bytes_done, bytes_total, outcome.job.rel)
        yield Progress(phase, done, total, bytes_done, bytes_total)
    return contents
