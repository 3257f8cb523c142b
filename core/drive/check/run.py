"""Checking a whole inventory: every file in parallel, then every set.

Files are checked in threads: on a network share each file costs round trips
that overlap well, and Pillow and hashlib release the GIL while they decode and
hash. At most a few jobs per thread are queued at a time, so that memory stays
flat on a million files and a cancel takes effect within a few files.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datayard.core.drive.check.findings import Finding, FindingKind
from datayard.core.drive.check.images import check_image
from datayard.core.drive.check.labels import LabelResult, check_label
from datayard.core.drive.check.report import CheckReport
from datayard.core.drive.check.sets import check_set
from datayard.core.drive.inventory import FileEntry, FileKind, Inventory, ScanProblemKind
from datayard.core.events import CancelToken, Finished, Progress, Throttle, check_cancel
from datayard.core.pool import run_parallel
from datayard.core.stepwise import sorted_stepwise

log = logging.getLogger(__name__)

PHASE = "checking"
_QUEUED_PER_WORKER = 4
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


@dataclass(frozen=True, slots=True)
class _FileResult:
    job: _FileJob
    findings: tuple[Finding, ...]
    label: LabelResult | None = None
    sha256: str | None = None


def check(
    inventory: Inventory,
    *,
    deep: bool = False,
    workers: int | None = None,
    cancel: CancelToken | None = None,
    max_pixels: int | None = None,
) -> Iterator[Progress | Finished[CheckReport]]:
    """Check every image, every label of a set, then every set of ``inventory``.

    Yields ``Progress(phase="checking")`` at the start, at most ten times a
    second while files are checked, once all are, and ends with
    ``Finished(report)``; raises :class:`~datayard.core.events.Cancelled` once
    ``cancel`` is set. ``deep`` decodes every image (see :mod:`.images`).
    """
    check_cancel(cancel)
    jobs = _plan(inventory)
    yield Progress(PHASE, 0, len(jobs))

    def run_job(job: _FileJob) -> _FileResult:
        return _check_file(inventory.root, job, deep, max_pixels)

    findings: list[Finding] = [
        Finding(_SCAN_PROBLEMS[problem.kind], problem.rel, problem.detail)
        for problem in inventory.problems
    ]
    labels: dict[str, LabelResult] = {}
    hashes = _known_hashes(inventory)
    throttle = Throttle()
    results = run_parallel(
        run_job,
        jobs,
        workers=workers or _default_workers(),
        cancel=cancel,
        name="datayard-check",
        queued=_QUEUED_PER_WORKER,
    )
    for done, result in enumerate(results, start=1):
        findings += result.findings
        if result.label is not None:
            labels[result.job.rel] = result.label
        if result.sha256 is not None:
            hashes[result.job.rel] = result.sha256
        if throttle.due() or done == len(jobs):
            yield Progress(PHASE, done, len(jobs), current=result.job.rel)
    summaries = []
    for dataset in inventory.sets:
        set_findings, summary = check_set(dataset, labels, hashes, inventory.root)
        findings += set_findings
        summaries.append(summary)
    report = CheckReport(
        root=inventory.root,
        findings=tuple(sorted_stepwise(findings, key=Finding.sort_key)),
        sets=tuple(summaries),
        images_checked=sum(not job.is_label for job in jobs),
        labels_checked=len(labels),
        deep=deep,
    )
    log.info("checked %s: %s", inventory.root, report.counts)
    yield Finished(report)


def _plan(inventory: Inventory) -> list[_FileJob]:
    """Every image of the inventory, and the label files the sets pair with images.

    Other ``.txt`` files are notes as often as labels, so only a set decides
    what is a label. Labels nobody pairs (orphans) are reported, not parsed.
    """
    entries = {entry.rel: entry for entry in inventory.files}
    in_sets = {item.image for dataset in inventory.sets for item in dataset.items}
    found = {entry.rel for entry in inventory.of_kind(FileKind.IMAGE)}
    found.update(in_sets)  # in place: a new union of two 100,000-name sets took 30-55 ms in C
    images = sorted_stepwise(found)
    jobs = [
        _FileJob(rel, wants_hash=rel in in_sets and _unhashed(entries.get(rel))) for rel in images
    ]
    for dataset in inventory.sets:
        class_count = len(dataset.class_names) or None
        jobs += [
            _FileJob(item.label, class_count=class_count, is_label=True)
            for item in dataset.items
            if item.label is not None
        ]
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
