"""The datasets and versions stored in a bucket: reading and publishing manifests.

Where each object lives is :mod:`datayard.core.store.layout`'s business.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass, replace

from datayard.core.datasets.history import in_history_order
from datayard.core.datasets.manifest import (
    LATEST,
    Manifest,
    check_name,
    check_version,
    is_name,
    is_version_id,
    version_number,
)
from datayard.core.errors import (
    InvalidStoreObjectError,
    PreconditionFailedError,
    StorageError,
    UsageError,
    quoted,
)
from datayard.core.events import Checkpoint
from datayard.core.pool import helper_pool
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import DATASETS, latest_key, version_key
from datayard.core.store.locks import HeldLock, LockTiming, Mode, acquire

log = logging.getLogger(__name__)

PUBLISH_ATTEMPTS = 50
"""Publishes that may land first before a push gives up: far more than people push at once."""


@dataclass(frozen=True)
class DatasetRef:
    """``[OWNER/]NAME[@VERSION]`` as a user types it; VERSION is an id, a number (``v3``) or
    ``latest``, and no version means the latest."""

    owner: str
    name: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str, default_owner: str) -> DatasetRef:
        path, _, version = text.partition("@")
        owner, _, name = path.rpartition("/")
        return cls(
            owner=check_name("owner", owner or default_owner),
            name=check_name("dataset name", name),
            version=check_version(version) if version else None,
        )

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}" + (f"@{self.version}" if self.version else "")


@dataclass(frozen=True)
class BrokenVersion:
    """A version whose manifest cannot be used; ``error`` names the object and why."""

    owner: str
    name: str
    id: str
    error: InvalidStoreObjectError


@dataclass(frozen=True)
class StoredVersions:
    """Every version in a bucket: the manifests read, and the versions that cannot be."""

    manifests: tuple[Manifest, ...]
    broken: tuple[BrokenVersion, ...]


def parse_latest(raw: bytes, key: str) -> str:
    """The version id that the ``latest`` object at ``key`` holds, and nothing else.

    Anyone may have written it, and the id becomes part of a key to read.
    """
    try:
        text = raw.decode().strip()
    except UnicodeDecodeError:
        text = ""
    if not is_version_id(text):
        raise InvalidStoreObjectError(key, "", f"does not hold a version id ({quoted(raw)})")
    return text


class Catalog:
    """Reads and publishes manifests in one bucket."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket

    def datasets(self) -> dict[tuple[str, str], list[str]]:
        """Every dataset with its version ids, oldest first, from one listing."""
        found: dict[tuple[str, str], list[str]] = {}
        for item in self.bucket.objects(DATASETS):
            parts = item.key.split("/")
            if len(parts) == 5 and parts[3] == "versions" and parts[4].endswith(".json"):
                found.setdefault((parts[1], parts[2]), []).append(parts[4][: -len(".json")])
        return {key: sorted(versions) for key, versions in sorted(found.items())}

    def versions(self, owner: str, name: str) -> list[str]:
        prefix = posixpath.dirname(version_key(owner, name, "x")) + "/"
        return sorted(
            posixpath.basename(item.key)[: -len(".json")]
            for item in self.bucket.objects(prefix)
            if item.key.endswith(".json")
        )

    def latest(self, owner: str, name: str) -> str | None:
        key = latest_key(owner, name)
        if self.bucket.stat(key) is None:
            versions = self.versions(owner, name)
            return versions[-1] if versions else None
        return parse_latest(self.bucket.get_bytes(key), key)

    def manifest(self, ref: DatasetRef) -> Manifest:
        number = version_number(ref.version or "")
        if number is not None:
            return self._numbered(ref.owner, ref.name, number)
        version = self.latest(ref.owner, ref.name) if ref.version in (None, LATEST) else ref.version
        if version is None:
            raise UsageError(f"there is no dataset {ref.owner}/{ref.name} in the store")
        key = version_key(ref.owner, ref.name, version)
        if self.bucket.stat(key) is None:
            raise UsageError(f"dataset {ref.owner}/{ref.name} has no version {version}")
        return Manifest.from_json(self.bucket.get_bytes(key), key)

    def history(self, owner: str, name: str, workers: int = 8) -> list[Manifest]:
        """The dataset's versions in the order of its history (:mod:`.history`), each read in
        full: a version's number needs every version of its dataset."""
        versions = [(owner, name, version) for version in self.versions(owner, name)]
        with helper_pool(workers, "manifests") as pool:
            read = list(pool.map(self._read, versions))
        broken = [item for item in read if isinstance(item, BrokenVersion)]
        if broken:
            raise broken[0].error
        return in_history_order([item for item in read if isinstance(item, Manifest)])

    def _numbered(self, owner: str, name: str, number: int) -> Manifest:
        history = self.history(owner, name)
        if not history:
            raise UsageError(f"there is no dataset {owner}/{name} in the store")
        if number > len(history):
            known = "only v1" if len(history) == 1 else f"v1 to v{len(history)}"
            raise UsageError(f"dataset {owner}/{name} has no v{number}: it has {known}")
        return history[number - 1]

    def stored_versions(self, workers: int = 8) -> StoredVersions:
        """Every version of every dataset, read in parallel, as each is one round trip.

        A version whose manifest cannot be used is listed apart with the reason,
        so that one broken object does not hide the others.
        """
        versions = [(o, n, v) for (o, n), ids in self.datasets().items() for v in ids]
        with helper_pool(workers, "manifests") as pool:
            read = list(pool.map(self._read, versions))
        return StoredVersions(
            tuple(item for item in read if isinstance(item, Manifest)),
            tuple(item for item in read if isinstance(item, BrokenVersion)),
        )

    def _read(self, version: tuple[str, str, str]) -> Manifest | BrokenVersion:
        key = version_key(*version)
        try:
            if not _well_named(*version):
                raise InvalidStoreObjectError(
                    key, "", "is not named as a version (datasets/OWNER/NAME/versions/ID.json)"
                )
            return Manifest.from_json(self.bucket.get_bytes(key), key)
        except InvalidStoreObjectError as error:
            return BrokenVersion(*version, error)

    def all_manifests(self, workers: int = 8) -> list[Manifest]:
        """Every version of every dataset; one that cannot be used raises its error."""
        stored = self.stored_versions(workers)
        if stored.broken:
            raise stored.broken[0].error
        return list(stored.manifests)

    def publish(
        self,
        manifest: Manifest,
        *,
        timing: LockTiming | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> Manifest:
        """Publish ``manifest`` as the newest version of its dataset; return it as published.

        History is linear: the version's parent is whatever was newest when it
        landed, even when another push published a moment before. On stores
        that honour conditional writes, ``latest`` moves only if nobody moved
        it since it was read (``If-Match``); a push that loses that race
        removes its manifest and publishes again on top of the winner. Other
        stores get the same order from a short lock on the dataset (see
        :mod:`datayard.core.store.locks`). A version is never overwritten.
        ``checkpoint`` hears "latest-read" once the parent is chosen.
        """
        step = checkpoint or (lambda _name: None)
        if self.bucket.honours_conditions():
            return self._publish_conditionally(manifest, step)
        scope = f"publish/{manifest.owner}/{manifest.name}"
        operation = f"publish of {manifest.owner}/{manifest.name}"
        taking = acquire(
            self.bucket,
            Mode.EXCLUSIVE,
            operation,
            scope=scope,
            timing=timing,
            checkpoint=checkpoint,
        )
        while True:
            try:
                next(taking)  # waiting for another publish of this dataset: milliseconds
            except StopIteration as taken:
                held: HeldLock = taken.value
                break
        with held:
            placed = replace(manifest, parent=self.latest(manifest.owner, manifest.name))
            step("latest-read")
            key = version_key(placed.owner, placed.name, placed.id)
            if self.bucket.stat(key) is not None:
                raise StorageError(f"version {placed.ref} already exists; versions are immutable")
            self.bucket.put_bytes(key, placed.to_json(), content_type="application/json")
            self.bucket.put_bytes(
                latest_key(placed.owner, placed.name), placed.id.encode(), content_type="text/plain"
            )
            return placed

    def _publish_conditionally(self, manifest: Manifest, step: Checkpoint) -> Manifest:
        key = version_key(manifest.owner, manifest.name, manifest.id)
        pointer = latest_key(manifest.owner, manifest.name)
        for _ in range(PUBLISH_ATTEMPTS):
            current = self.bucket.get_with_etag(pointer)
            if current is None:
                parent, etag = self.latest(manifest.owner, manifest.name), None
            else:
                parent, etag = parse_latest(current[0], pointer), current[1]
            placed = replace(manifest, parent=parent)
            step("latest-read")
            try:
                self.bucket.put_if(
                    key, placed.to_json(), etag=None, content_type="application/json"
                )
            except PreconditionFailedError:
                raise StorageError(
                    f"version {placed.ref} already exists; versions are immutable"
                ) from None
            try:
                self.bucket.put_if(
                    pointer, placed.id.encode(), etag=etag, content_type="text/plain"
                )
                return placed
            except PreconditionFailedError:
                # Another version landed first: this one goes on top of it.
                self.bucket.remove([key])
                log.info("%s: another version was published meanwhile", placed.ref)
        raise StorageError(
            f"{manifest.owner}/{manifest.name}: other versions kept being published at the "
            "same moment; run the push again"
        )


def _well_named(owner: str, name: str, version: str) -> bool:
    """Whether a listed key reads as a version's; others (``..`` in a name, say) are not read."""
    return is_name(owner) and is_name(name) and is_version_id(version)
