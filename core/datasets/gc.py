"""Deleting blobs that no dataset version uses, and never one that may be in use.

Blobs are shared between versions and datasets, so a blob may go only when no
manifest of any dataset names it and no push in progress announced it in its
marker (``pushes/<id>.json``, written before the push uploads, removed after
it published). The order of reads covers a push that finishes meanwhile:
blobs are listed first, then markers, then manifests, so a listed blob of a
push is covered by its marker or, once that push removed its marker, by the
manifest it published before. Markers are read once more just before
deleting. A manifest or marker that cannot be read stops gc before it deletes
anything. Deleting moves the blob generation, which tells every machine's
index of known blobs (kept by push) to forget what it knew.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from datayard.core import schema
from datayard.core.datasets.blobs import ALL_PREFIXES, is_missing, list_blobs
from datayard.core.datasets.catalog import Catalog
from datayard.core.datasets.manifest import Manifest
from datayard.core.errors import InvalidStoreObjectError, StorageError, quoted
from datayard.core.events import CancelToken, Finished, Progress, check_cancel
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import GENERATION_KEY, PUSHES, blob_key

log = logging.getLogger(__name__)

STALE_PUSH = timedelta(days=7)
"""A push marker this old most likely belongs to a push that died."""
PHASE_READING = "reading versions"
PHASE_DELETING = "deleting"
DEFAULT_WORKERS = 8


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
    markers: tuple[PushMarker, ...]
    unreferenced: tuple[tuple[str, int], ...]
    """(sha256, size) of every blob that nothing uses."""
    deleted: tuple[str, ...]
    failed: tuple[str, ...]
    """Keys the server did not delete."""

    @property
    def unreferenced_bytes(self) -> int:
        return sum(size for _, size in self.unreferenced)


def collect_garbage(
    bucket: Bucket,
    *,
    delete: bool = False,
    ignore_stale_pushes: bool = False,
    workers: int = DEFAULT_WORKERS,
    cancel: CancelToken | None = None,
) -> Iterator[Progress | Finished[GcResult]]:
    """Find the blobs nothing uses; delete them only when ``delete`` is true.

    Stale push markers are respected unless ``ignore_stale_pushes``.
    """
    stored = yield from list_blobs(bucket, ALL_PREFIXES, workers=workers, cancel=cancel)
    markers = read_markers(bucket)
    yield Progress(PHASE_READING, 0, None)
    manifests = _all_manifests(bucket, workers)
    in_use = _protected(markers, ignore_stale_pushes).union(*(m.blobs for m in manifests))
    garbage = {sha: size for sha, size in stored.items() if sha not in in_use}
    deleted: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    if delete and garbage:
        check_cancel(cancel)
        # A push may have started meanwhile: its marker names the blobs it will use.
        for sha in _protected(read_markers(bucket), ignore_stale_pushes):
            garbage.pop(sha, None)
        yield Progress(PHASE_DELETING, 0, len(garbage))
        try:
            failed = tuple(bucket.remove(blob_key(sha) for sha in sorted(garbage)))
        finally:
            _move_generation(bucket)
        deleted = tuple(sorted(set(garbage) - {key.rsplit("/", 1)[-1] for key in failed}))
        yield Progress(PHASE_DELETING, len(garbage), len(garbage))
        log.info("gc deleted %d blobs, %d failed", len(deleted), len(failed))
    yield Finished(
        GcResult(
            stored_blobs=len(stored),
            stored_bytes=sum(stored.values()),
            versions=len(manifests),
            markers=markers,
            unreferenced=tuple(sorted(garbage.items())),
            deleted=deleted,
            failed=failed,
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


def _all_manifests(bucket: Bucket, workers: int) -> list[Manifest]:
    try:
        return Catalog(bucket).all_manifests(workers)
    except StorageError as error:
        raise StorageError(
            f"{error}; gc deleted nothing, since it must read every version to know "
            "which blobs are in use"
        ) from error


def _move_generation(bucket: Bucket) -> None:
    generation = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    bucket.put_bytes(GENERATION_KEY, generation.encode(), content_type="text/plain")
