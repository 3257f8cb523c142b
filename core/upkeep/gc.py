"""Deleting blobs that no dataset or model version uses, and never one that may be in use.

Blobs are shared between versions, datasets and models, so a blob may go only
when no manifest of any dataset names it, no model version holds it as its
weights, and no push announced it in its marker
(``pushes/<id>.json``, written before the push asks the store what it has,
removed once it published; an interrupted push keeps its marker, so that its
uploads wait for its resumption).

A deleting gc holds the store's exclusive lock (see
:mod:`datayard.core.store.locks`) from before it reads anything until after
its last delete, and every push holds a shared one from before it writes its
marker until it has published (as does adding a model, from before it asks
whether its weights are stored until its version is published): no push can
count a blob as stored while gc decides it is garbage. gc waits for the pushes
in progress, and says so. Before each batch of deletes it checks that its lock
is still fresh, so a gc suspended long enough to be judged stale stops instead of deleting.

The blob generation moves before the first delete and after the last, which
tells every machine's index of known blobs (kept by push) to forget what it
knew. A manifest, model version or marker that cannot be read stops gc before
it deletes anything. A dry run takes no lock: it deletes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from datayard.core import schema
from datayard.core.datasets.blobs import ALL_PREFIXES, list_blobs
from datayard.core.datasets.catalog import Catalog, R, VersionCatalog
from datayard.core.errors import InvalidStoreObjectError, StorageError, quoted
from datayard.core.events import (
    CancelToken,
    Checkpoint,
    Finished,
    Progress,
    Waiting,
    check_cancel,
)
from datayard.core.models.version import ModelCatalog
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import PUSHES, QUARANTINE, blob_key, move_generation
from datayard.core.store.locks import HeldLock, LockTiming, Mode, acquire
from datayard.core.store.s3 import is_missing

log = logging.getLogger(__name__)

STALE_PUSH = timedelta(days=7)
"""A push marker this old most likely belongs to a push that died."""
PHASE_READING = "reading versions"
PHASE_DELETING = "deleting"
DEFAULT_WORKERS = 8
DELETE_BATCH = 1000
"""Blobs per delete request (the S3 maximum); the lock is checked between batches."""


@dataclass(frozen=True)
class PushMarker:
    key: str
    host: str
    started: str
    blobs: frozenset[str]
    stale: bool


@dataclass(frozen=True)
class GcResult:
    stored_blobs: int
    stored_bytes: int
    versions: int
    """Dataset versions read."""
    models: int
    """Model versions read."""
    markers: tuple[PushMarker, ...]
    unreferenced: tuple[tuple[str, int], ...]
    """(sha256, size) of every blob that nothing uses."""
    deleted: tuple[str, ...]
    failed: tuple[str, ...]
    """Keys the server did not delete."""
    quarantined: tuple[str, ...] = ()
    """Damaged blobs set aside by pull or verify (``quarantine/``): deleted with the garbage."""

    @property
    def unreferenced_bytes(self) -> int:
        return sum(size for _, size in self.unreferenced)


def collect_garbage(
    bucket: Bucket,
    *,
    delete: bool = False,
    ignore_stale_pushes: bool = False,
    workers: int = DEFAULT_WORKERS,
    wait: bool = True,
    timing: LockTiming | None = None,
    cancel: CancelToken | None = None,
    checkpoint: Checkpoint | None = None,
) -> Iterator[Progress | Waiting | Finished[GcResult]]:
    """Find the blobs nothing uses; delete them only when ``delete`` is true.

    Stale push markers are respected unless ``ignore_stale_pushes``. A
    deleting gc waits for the pushes in progress (yielding :class:`Waiting`),
    or with ``wait=False`` refuses with :class:`StoreLockedError`.
    """
    bucket = bucket.heeding(cancel)
    if not delete:
        yield from _sweep(bucket, None, ignore_stale_pushes, workers, cancel, checkpoint)
        return
    held = yield from acquire(
        bucket, Mode.EXCLUSIVE, "gc", timing=timing, wait=wait, cancel=cancel, checkpoint=checkpoint
    )
    with held:
        yield from _sweep(bucket, held, ignore_stale_pushes, workers, cancel, checkpoint)


def _sweep(
    bucket: Bucket,
    held: HeldLock | None,
    ignore_stale_pushes: bool,
    workers: int,
    cancel: CancelToken | None,
    checkpoint: Checkpoint | None,
) -> Iterator[Progress | Finished[GcResult]]:
    """List, read what is in use, and (holding ``held``) delete the rest."""

    def step(name: str) -> None:
        if checkpoint is not None:
            checkpoint(name)

    stored = yield from list_blobs(bucket, ALL_PREFIXES, workers=workers, cancel=cancel)
    step("blobs-listed")
    markers = read_markers(bucket)
    step("markers-read")
    yield Progress(PHASE_READING, 0, None)
    manifests = _all_versions(Catalog(bucket), workers)
    models = _all_versions(ModelCatalog(bucket), workers)
    step("manifests-read")
    in_use = _protected(markers, ignore_stale_pushes).union(
        *(m.blobs for m in manifests), (m.sha256 for m in models)
    )
    garbage = {sha: size for sha, size in stored.items() if sha not in in_use}
    quarantined = tuple(sorted(item.key for item in bucket.objects(QUARANTINE)))
    deleted: list[str] = []
    failed: list[str] = []
    if held is not None and quarantined:
        failed += bucket.remove(quarantined)
    if held is not None and garbage:
        doomed = sorted(garbage)
        yield Progress(PHASE_DELETING, 0, len(doomed))
        move_generation(bucket)
        try:
            for start in range(0, len(doomed), DELETE_BATCH):
                check_cancel(cancel)
                held.ensure_fresh()
                batch = doomed[start : start + DELETE_BATCH]
                refused = {key.rsplit("/", 1)[-1] for key in bucket.remove(map(blob_key, batch))}
                failed += sorted(refused)
                deleted += [sha for sha in batch if sha not in refused]
                step("batch-deleted")
                yield Progress(PHASE_DELETING, start + len(batch), len(doomed))
        finally:
            move_generation(bucket)
        log.info("gc deleted %d blobs, %d failed", len(deleted), len(failed))
    yield Finished(
        GcResult(
            stored_blobs=len(stored),
            stored_bytes=sum(stored.values()),
            versions=len(manifests),
            models=len(models),
            markers=markers,
            unreferenced=tuple(sorted(garbage.items())),
            deleted=tuple(deleted),
            failed=tuple(failed),
            quarantined=quarantined,
        )
    )


def read_markers(bucket: Bucket) -> tuple[PushMarker, ...]:
    """The markers of pushes in progress; one that vanished while read has published."""
    now = datetime.now(UTC)
    markers: list[PushMarker] = []
    for item in bucket.objects(PUSHES):
        if not item.key.endswith(".json"):
            continue
        try:
            raw = bucket.get_bytes(item.key)
        except StorageError as error:
            if is_missing(error):
                continue
            raise
        markers.append(parse_marker(item.key, raw, now))
    return tuple(markers)


def parse_marker(key: str, raw: bytes, now: datetime) -> PushMarker:
    """The push marker stored at ``key``, checked in full: gc keeps the blobs it names.

    One that cannot be read stops gc: its blobs are unknown, and may be in use.
    """
    try:
        data = schema.json_object(schema.load_json(raw))
        blobs = schema.member(data, "blobs")
        if not isinstance(blobs, list):
            raise schema.SchemaError("blobs", f"is not a list ({quoted(blobs)})")
        found = schema.first_non_digest(blobs)
        if found:
            raise schema.SchemaError(f"blobs[{found[0]}]", found[1])
        host, started = schema.text(data, "host"), schema.text(data, "started")
    except schema.SchemaError as problem:
        raise InvalidStoreObjectError(
            key,
            problem.field,
            f"{problem.problem}, so gc deleted nothing; if no push is running, delete that "
            "object with an S3 client and run gc again",
        ) from None
    return PushMarker(
        key=key,
        host=host,
        started=started,
        blobs=frozenset(blobs),
        stale=_older_than(started, STALE_PUSH, now),
    )


def _older_than(started: str, age: timedelta, now: datetime) -> bool:
    """False when the time cannot be read: an unknown age is no reason to delete."""
    try:
        moment = datetime.fromisoformat(started)
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return now - moment > age


def _protected(markers: tuple[PushMarker, ...], ignore_stale: bool) -> set[str]:
    return {sha for m in markers if not (m.stale and ignore_stale) for sha in m.blobs}


def _all_versions(catalog: VersionCatalog[R], workers: int) -> list[R]:
    try:
        return catalog.all_versions(workers)
    except StorageError as error:
        raise StorageError(
            f"{error}; gc deleted nothing, since it must read every {catalog.KIND} version "
            "to know which blobs are in use"
        ) from error
