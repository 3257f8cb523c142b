"""The scan operation: walk, read what must be read, recognise the sets.

Contents are read after the walk, not during it, so that the hashing phase
knows its total (a real progress bar with bytes). The walk itself gives the
contents the scan cache still vouches for, folder by folder.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Generator, Sequence
from contextlib import ExitStack, closing
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
from datayard.core.drive.scan.hash_cache import CacheKey, Content, HashCache, Known, known
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
    with ExitStack() as stack:
        cache = stack.enter_context(HashCache(database)) if database else None
        found = yield from walker.walk(
            str(folder),
            include_hidden=include_hidden,
            cancel=cancel,
            recall=cache.recall if cache else None,
        )
        files, yamls = _classify_yamls(str(folder), found.files)
        problems = list(found.problems)
        to_read = [entry for entry in files if entry.sha256 is None and _to_read(entry, hash_files)]
        phase = PHASE_HASHING if hash_files else PHASE_LABELS
        rows = _Rows(cache, str(folder), files, found.stale)
        stack.callback(rows.save)
        contents = yield from _read_contents(folder, to_read, phase, rows, count, cancel, problems)
    if contents:
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


def _to_read(entry: FileEntry, hash_files: bool) -> bool:
    """Labels always; with ``hash_files``, what a dataset is made of, but not other
    files (videos, archives)."""
    return entry.kind is FileKind.LABEL or (hash_files and entry.kind is not FileKind.OTHER)


class _Rows:
    """The scan cache rows this scan must write: the folders the walk found changed,
    and those of the files read. Saved in batches while files are read, and once
    more on the way out, whether the scan ends, is cancelled, or is abandoned."""

    def __init__(
        self, cache: HashCache | None, base: str, files: Sequence[FileEntry], stale: list[str]
    ) -> None:
        self._cache = cache
        self._base = base
        self._files = files
        self._by_folder: dict[str, list[FileEntry]] | None = None
        self._dirty: set[str] = set(stale)
        self._learnt: dict[str, Content | None] = {}
        """Contents read, by relative path; ``None`` for a file that changed while read."""

    def learn(self, rel: str, content: Content | None) -> None:
        self._learnt[rel] = content
        self._dirty.add(self._folder_of(rel))

    def save(self) -> None:
        if self._cache is None or not self._dirty:
            return
        if self._by_folder is None:  # only for a scan that writes: not an unchanged rescan
            self._by_folder = defaultdict(list)
            for entry in self._files:
                self._by_folder[self._folder_of(entry.rel)].append(entry)
        learnt = self._learnt
        rows: dict[str, dict[str, Known]] = {}
        for folder in self._dirty:
            rows[folder] = {
                entry.rel[entry.rel.rfind("/") + 1 :]: known(
                    entry.size,
                    entry.mtime_ns,
                    learnt.get(entry.rel) if entry.rel in learnt else _content(entry),
                )
                for entry in self._by_folder.get(folder, ())
            }
        self._cache.remember(rows)
        self._dirty.clear()

    def _folder_of(self, rel: str) -> str:
        slash = rel.rfind("/")
        return f"{self._base}/{rel[:slash]}" if slash > 0 else self._base


def _content(entry: FileEntry) -> Content | None:
    return None if entry.sha256 is None else Content(entry.sha256, entry.class_ids)


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
    rows: _Rows,
    workers: int,
    cancel: CancelToken | None,
    problems: list[ScanProblem],
) -> Generator[Progress, None, dict[str, Content]]:
    """The contents of the entries, by relative path, read in parallel."""
    base = str(root)  # joined by hand below: os.path.join is slow for 100k files
    jobs = [
        Job(
            entry.rel,
            CacheKey(f"{base}/{entry.rel}", entry.size, entry.mtime_ns),
            entry.kind is FileKind.LABEL,
        )
        for entry in entries
    ]
    total, bytes_total = len(jobs), sum(job.key.size for job in jobs)
    done = bytes_done = 0
    contents: dict[str, Content] = {}
    yield Progress(phase, done, total, bytes_done, bytes_total)
    throttle = Throttle()
    with closing(read_all(jobs, workers=workers, cancel=cancel)) as outcomes:
        for outcome in outcomes:
            done += 1
            bytes_done += outcome.job.key.size
            rel = outcome.job.rel
            if outcome.content is None:
                problems.append(ScanProblem(rel, ScanProblemKind.UNREADABLE_FILE, outcome.error))
            else:
                contents[rel] = outcome.content
            rows.learn(rel, outcome.content if outcome.stable else None)
            if done % _STORE_BATCH == 0:
                rows.save()
            check_cancel(cancel)
            if throttle.due():
                yield Progress(phase, done, total, bytes_done, bytes_total, rel)
    yield Progress(phase, done, total, bytes_done, bytes_total)
    return contents
