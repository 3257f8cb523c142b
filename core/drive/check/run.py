"""Checking a whole inventory: every file in parallel, then every set.

Files are checked in threads: on a network share each file costs round trips
that overlap well, and Pillow and hashlib release the GIL while they decode and
hash. At most a few jobs per thread are queued at a time, so that memory stays
flat on a million files and a cancel takes effect within a few files. Given the
local database, a file whose content was checked before is not read again (see
:mod:`.cache`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Generator, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import chain
from pathlib import Path, PurePosixPath

from PIL import Image

from datayard.core.drive.check.across_sets import across_sets
from datayard.core.drive.check.cache import (
    CheckCache,
    decode,
    encode,
    image_key,
    label_key,
    looks_key,
)
from datayard.core.drive.check.findings import Finding, FindingKind
from datayard.core.drive.check.images import check_image, quarter_turned
from datayard.core.drive.check.labels import LabelResult, check_label
from datayard.core.drive.check.report import CheckReport
from datayard.core.drive.check.sets import check_set
from datayard.core.drive.check.similar import Fingerprint, fingerprint
from datayard.core.drive.decoding import UndecodableImageError
from datayard.core.drive.inventory import FileEntry, FileKind, Inventory, ScanProblemKind
from datayard.core.events import CancelToken, Finished, Progress, Throttle, check_cancel
from datayard.core.pool import run_parallel
from datayard.core.stepwise import sorted_stepwise

log = logging.getLogger(__name__)

PHASE = "checking"
COMPARING = "comparing"
_FLAT = "flat"
"""What the cache keeps for an image that has no fingerprint (see :mod:`.similar`)."""
_SCAN_PROBLEMS = {
    ScanProblemKind.UNREADABLE_FOLDER: FindingKind.UNREADABLE_FOLDER,
    ScanProblemKind.UNREADABLE_FILE: FindingKind.UNREADABLE_FILE,
    ScanProblemKind.BROKEN_SYMLINK: FindingKind.BROKEN_SYMLINK,
    ScanProblemKind.SYMLINK_LOOP: FindingKind.SYMLINK_LOOP,
}


@dataclass(frozen=True, slots=True)
class _FileJob:
    rel: str
    class_count: int | None = None
    """For label files: how many names the set has, ``None`` when it has none."""
    is_label: bool = False
    wants_hash: bool = False
    """For images of a set whose scan did not hash them: duplicates need it."""
    scanned: FileEntry | None = None
    """The scan's entry, when it hashed the file: its result's key in the check cache
    names that content (made when needed: 100,000 keys held are 14 MB)."""


@dataclass(frozen=True, slots=True)
class _FileResult:
    job: _FileJob
    findings: tuple[Finding, ...]
    label: LabelResult | None = None
    sha256: str | None = None
    cached: bool = False
    """Found in the check cache, not read."""


def check(
    inventory: Inventory,
    *,
    deep: bool = False,
    workers: int | None = None,
    cancel: CancelToken | None = None,
    max_pixels: int | None = None,
    database: Path | None = None,
    similar: bool = False,
) -> Iterator[Progress | Finished[CheckReport]]:
    """Check every image, every label of a set, then every set of ``inventory``.

    Yields ``Progress(phase="checking")`` at the start, at most ten times a
    second while files are checked, once all are, and ends with
    ``Finished(report)``; raises :class:`~datayard.core.events.Cancelled` once
    ``cancel`` is set. ``deep`` decodes every image (see :mod:`.images`).
    ``database`` holds the results of files checked before (see :mod:`.cache`).
    ``similar`` also compares the sets' images by their looks (see
    :mod:`.similar`), in a phase of its own (``"comparing"``): it decodes
    every image not compared before, which a push does without.
    """
    check_cancel(cancel)
    limit = max_pixels if max_pixels is not None else Image.MAX_IMAGE_PIXELS
    jobs = _plan(inventory, cached=database is not None)
    yield Progress(PHASE, 0, len(jobs))
    with ExitStack() as stack:
        cache = stack.enter_context(CheckCache(database)) if database is not None else None
        keys = (_key(job, deep, limit) for job in jobs)
        kept = cache.lookup(key for key in keys if key) if cache is not None else {}

        to_check: list[_FileJob] = []

        def known() -> Iterator[_FileResult]:
            """The kept results, here: a thread per file would cost more than reading them."""
            for job in jobs:
                key = _key(job, deep, limit) if cache is not None else None
                if key is not None and key in kept:
                    yield _kept(job, kept[key])
                else:
                    to_check.append(job)

        def run_job(job: _FileJob) -> _FileResult:
            result = _check_file(inventory.root, job, deep, limit)
            key = _key(job, deep, limit) if cache is not None else None
            if cache is not None and key is not None and _keepable(result, inventory.root):
                cache.add(key, encode(result.findings, _class_ids(result)))
            return result

        checked = run_parallel(
            run_job,
            to_check,  # complete once ``known`` is: the pool starts after it
            workers=workers or _default_workers(),
            cancel=cancel,
            name="datayard-check",
        )
        compare = _Comparer(inventory.root, cache, workers, cancel) if similar else None
        results = chain(known(), checked)
        report = yield from _run(inventory, len(jobs), results, deep, compare)
    yield Finished(report)


def _run(
    inventory: Inventory,
    total: int,
    results: Iterable[_FileResult],
    deep: bool,
    compare: _Comparer | None,
) -> Generator[Progress, None, CheckReport]:
    findings: list[Finding] = [
        Finding(_SCAN_PROBLEMS[problem.kind], problem.rel, problem.detail)
        for problem in inventory.problems
    ]
    labels: dict[str, LabelResult] = {}
    hashes = _known_hashes(inventory)
    throttle = Throttle()
    images = from_cache = 0
    for done, result in enumerate(results, start=1):
        findings += result.findings
        from_cache += result.cached
        images += not result.job.is_label
        if result.label is not None:
            labels[result.job.rel] = result.label
        if result.sha256 is not None:
            hashes[result.job.rel] = result.sha256
        if throttle.due() or done == total:
            yield Progress(PHASE, done, total, current=result.job.rel)
    looks = (yield from compare.run(inventory, hashes)) if compare is not None else {}
    summaries = []
    turned = {finding.path for finding in findings if quarter_turned(finding)}
    for dataset in inventory.sets:
        set_findings, summary = check_set(dataset, labels, hashes, inventory.root, looks, turned)
        findings += set_findings
        summaries.append(summary)
    findings += across_sets(inventory.sets, hashes, _label_hashes(inventory))
    report = CheckReport(
        root=inventory.root,
        findings=tuple(sorted_stepwise(findings, key=Finding.sort_key)),
        sets=tuple(summaries),
        images_checked=images,
        labels_checked=len(labels),
        deep=deep,
        from_cache=from_cache,
    )
    log.info("checked %s: %s", inventory.root, report.counts)
    return report


class _Comparer:
    """The fingerprints of the sets' images: from the check cache, else decoded in threads.

    Each content is fingerprinted once, whatever number of files hold it.
    """

    def __init__(
        self, root: Path, cache: CheckCache | None, workers: int | None, cancel: CancelToken | None
    ) -> None:
        self._root = root
        self._cache = cache
        self._workers = workers
        self._cancel = cancel

    def run(
        self, inventory: Inventory, hashes: dict[str, str]
    ) -> Generator[Progress, None, dict[str, Fingerprint]]:
        """Fingerprints by path; images that are flat, undecodable or unhashed have none."""
        holder: dict[str, str] = {}
        for dataset in inventory.sets:
            for item in dataset.items:
                digest = hashes.get(item.image)
                if digest is not None:
                    holder.setdefault(digest, item.image)
        kept = self._cache.lookup(map(looks_key, holder)) if self._cache is not None else {}
        prints = {
            digest: _looks(kept[looks_key(digest)])
            for digest in holder
            if looks_key(digest) in kept
        }
        todo = [(digest, rel) for digest, rel in holder.items() if digest not in prints]
        yield Progress(COMPARING, 0, len(todo))
        throttle = Throttle()
        results = run_parallel(
            self._fingerprint,
            todo,
            workers=self._workers or _default_workers(),
            cancel=self._cancel,
            name="datayard-compare",
        )
        for done, (digest, rel, found) in enumerate(results, start=1):
            prints[digest] = found
            if throttle.due() or done == len(todo):
                yield Progress(COMPARING, done, len(todo), current=rel)
        return {
            rel: found
            for rel, digest in hashes.items()
            if (found := prints.get(digest)) is not None
        }

    def _fingerprint(self, job: tuple[str, str]) -> tuple[str, str, Fingerprint | None]:
        digest, rel = job
        try:
            found = fingerprint(self._root / rel)
        except UndecodableImageError:
            return digest, rel, None  # the check reports it; a later check tries again
        if self._cache is not None:
            self._cache.add(looks_key(digest), _FLAT if found is None else found.to_text())
        return digest, rel, found


def _looks(kept: str) -> Fingerprint | None:
    return None if kept == _FLAT else Fingerprint.from_text(kept)


def _key(job: _FileJob, deep: bool, limit: int | None) -> str | None:
    """The job's key in the check cache (see :mod:`.cache`), when the scan hashed it."""
    entry = job.scanned
    if entry is None or entry.sha256 is None:
        return None
    if job.is_label:
        return label_key(entry.sha256, job.class_count)
    return image_key(entry.sha256, PurePosixPath(job.rel).suffix, deep, limit)


def _kept(job: _FileJob, result: str) -> _FileResult:
    """A file's result from the cache, as checking it would give it."""
    findings, class_ids = decode(result, job.rel)
    if job.is_label:
        label = LabelResult(job.rel, class_ids or (), findings)
        return _FileResult(job, findings, label=label, cached=True)
    return _FileResult(job, findings, cached=True)


def _keepable(result: _FileResult, root: Path) -> bool:
    """Whether the result is the content's that the scan hashed: not a file that could
    not be read (that is about access, not content), nor one that changed since."""
    unreadable = (FindingKind.UNREADABLE_IMAGE, FindingKind.LABEL_UNREADABLE)
    if any(finding.kind in unreadable for finding in result.findings):
        return False
    try:
        now = (root / result.job.rel).stat()
    except OSError:
        return False
    entry = result.job.scanned
    return entry is not None and (now.st_size, now.st_mtime_ns) == (entry.size, entry.mtime_ns)


def _class_ids(result: _FileResult) -> tuple[int, ...] | None:
    return result.label.class_ids if result.label is not None else None


def _plan(inventory: Inventory, cached: bool) -> list[_FileJob]:
    """Every image of the inventory, and the label files the sets pair with images;
    when ``cached``, each with the scan's entry where the scan hashed it.

    Other ``.txt`` files are notes as often as labels, so only a set decides
    what is a label. Labels nobody pairs (orphans) are reported, not parsed.
    """
    entries = {entry.rel: entry for entry in inventory.files}
    in_sets = {item.image for dataset in inventory.sets for item in dataset.items}
    found = {entry.rel for entry in inventory.of_kind(FileKind.IMAGE)}
    found.update(in_sets)  # in place: a new union of two 100,000-name sets took 30-55 ms in C

    def known(rel: str) -> FileEntry | None:
        entry = entries.get(rel)
        return entry if cached and entry is not None and entry.sha256 is not None else None

    jobs = []
    for rel in sorted_stepwise(found):
        unhashed = rel in in_sets and _unhashed(entries.get(rel))
        jobs.append(_FileJob(rel, wants_hash=unhashed, scanned=known(rel)))
    for dataset in inventory.sets:
        class_count = len(dataset.class_names) or None
        for item in dataset.items:
            if item.label is not None:
                jobs.append(_FileJob(item.label, class_count, True, scanned=known(item.label)))
    return jobs


def _unhashed(entry: FileEntry | None) -> bool:
    return entry is None or (entry.sha256 is None and entry.size > 0)


def _known_hashes(inventory: Inventory) -> dict[str, str]:
    """Hashes the scan already computed; empty files are left out on purpose."""
    return {
        entry.rel: entry.sha256
        for entry in inventory.of_kind(FileKind.IMAGE)
        if entry.sha256 is not None and entry.size > 0
    }


def _label_hashes(inventory: Inventory) -> dict[str, str]:
    labels = {item.label for dataset in inventory.sets for item in dataset.items if item.label}
    return {
        entry.rel: entry.sha256
        for entry in inventory.files
        if entry.sha256 is not None and entry.rel in labels
    }


def _check_file(root: Path, job: _FileJob, deep: bool, max_pixels: int | None) -> _FileResult:
    path = root / job.rel
    if job.is_label:
        label = check_label(path, job.class_count, rel=job.rel)
        return _FileResult(job, label.findings, label=label)
    findings = tuple(check_image(path, deep=deep, rel=job.rel, max_pixels=max_pixels))
    return _FileResult(job, findings, sha256=_sha256(path) if job.wants_hash else None)


def _sha256(path: Path) -> str | None:
    """The file's sha256, or ``None`` when it is empty or unreadable (already reported)."""
    try:
        with path.open("rb") as stream:
            if os.fstat(stream.fileno()).st_size == 0:
                return None
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError:
        log.debug("cannot hash %s", path, exc_info=True)
        return None


def _default_workers() -> int:
    return min(32, (os.cpu_count() or 1) + 4)
