"""What a push would send, computed before anything is uploaded.

A user deciding whether to push 40 GB over the office link wants to know first
that 39 GB are already stored. The preview runs the first half of a push (scan,
check, plan, ask the store what it lacks) and stops there: no marker, no
journal entry for the push, no upload. The scan fills the hash cache, so the
push that follows does not read the files again.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.push.engine import (
    PushOptions,
    missing_blobs,
    same_content,
    scan_and_check,
    store_id,
)
from datayard.core.datasets.push.journal import Journal
from datayard.core.datasets.push.plan import plan
from datayard.core.drive.check import CheckReport, Severity
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, Finished, Progress, check_cancel
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import blob_generation


@dataclass(frozen=True)
class PushPreview:
    dataset: str
    files: int
    bytes: int
    blobs: int
    """Distinct contents among the files: a content is stored once."""
    new_blobs: int
    """Distinct contents the store lacks: what the push will upload."""
    new_bytes: int
    unchanged: bool
    """The latest version already has exactly this content: the push would publish nothing."""
    reports: tuple[CheckReport, ...] = field(repr=False)
    refusal: str = ""
    """Why these folders cannot be pushed as one version (their class names disagree)."""

    @property
    def trainable(self) -> bool:
        return all(report.trainable for report in self.reports)

    @property
    def blocking(self) -> int:
        return sum(report.counts[Severity.ERROR] for report in self.reports)

    @property
    def warnings(self) -> int:
        return sum(report.counts[Severity.WARNING] for report in self.reports)


def preview(
    paths: Sequence[Path],
    options: PushOptions,
    *,
    bucket: Bucket,
    database: Path,
    cancel: CancelToken | None = None,
) -> Generator[Progress | Finished[PushPreview], None, None]:
    """Scan and check progress, then ``Finished(PushPreview)``; uploads nothing."""
    bucket = bucket.heeding(cancel)
    ref = DatasetRef.parse(f"{options.owner}/{options.dataset}", options.owner)
    inventories, reports = yield from scan_and_check(
        paths, database=database, include_hidden=options.include_hidden, cancel=cancel
    )
    try:
        planned = plan(inventories, options.split)
    except UsageError as error:
        yield Finished(PushPreview(str(ref), 0, 0, 0, 0, 0, False, tuple(reports), str(error)))
        return
    check_cancel(cancel)
    catalog = Catalog(bucket)
    latest = catalog.newest(ref.owner, ref.name)
    journal = Journal(database, store_id(bucket))
    try:
        journal.check_generation(blob_generation(bucket))
        missing = missing_blobs(bucket, journal, planned, options.workers)
    finally:
        journal.close()
    blobs = planned.blobs
    yield Finished(
        PushPreview(
            dataset=str(ref),
            files=len(planned.files),
            bytes=sum(f.entry.size for f in planned.files),
            blobs=len(blobs),
            new_blobs=len(missing),
            new_bytes=sum(blobs[sha].entry.size for sha in missing),
            unchanged=latest is not None and same_content(latest, planned),
            reports=tuple(reports),
        )
    )
