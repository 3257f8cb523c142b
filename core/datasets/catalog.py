"""Versions stored in a bucket, datasets' and models': reading and publishing them.

Datasets and models are versioned alike (linear history, numbers v1, v2, ...,
a ``latest`` pointer), so one catalog class serves both; each kind says where
its versions live and how one is read. Where each object lives is
:mod:`datayard.core.store.layout`'s business.
"""

from __future__ import annotations

import logging
import posixpath
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import ClassVar, Generic, Protocol, Self, TypeVar

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


class StoredVersion(Protocol):
    """What the catalog needs of a version it stores: a dataset's manifest or a model's."""

    @property
    def id(self) -> str: ...

    @property
    def owner(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def parent(self) -> str | None: ...

    @property
    def ref(self) -> str: ...

    def to_json(self) -> bytes: ...


R = TypeVar("R", bound=StoredVersion)


@dataclass(frozen=True)
class VersionRef:
    """``[OWNER/]NAME[@VERSION]`` as a user types it; VERSION is an id, a number (``v3``) or
    ``latest``, and no version means the latest."""

    KIND: ClassVar[str] = "dataset"

    owner: str
    name: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str, default_owner: str) -> Self:
        path, _, version = text.partition("@")
        owner, _, name = path.rpartition("/")
        return cls(
            owner=check_name("owner", owner or default_owner),
            name=check_name(f"{cls.KIND} name", name),
            version=check_version(version) if version else None,
        )

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}" + (f"@{self.version}" if self.version else "")


class DatasetRef(VersionRef):
    """A dataset version as a user names it."""


@dataclass(frozen=True)
class BrokenVersion:
    """A version whose stored object cannot be used; ``error`` names the object and why."""

    owner: str
    name: str
    id: str
    error: InvalidStoreObjectError


@dataclass(frozen=True)
class StoredVersions(Generic[R]):
    """Every version in a bucket: those read, and those that cannot be."""

    versions: tuple[R, ...]
    broken: tuple[BrokenVersion, ...]


@dataclass(frozen=True)
class VersionHistory(Generic[R]):
    """One dataset (or model) and its versions in the order of its history, oldest first."""

    owner: str
    name: str
    versions: tuple[R, ...]
    broken: tuple[BrokenVersion, ...] = ()
    """Versions that cannot be used, each with the reason."""

    def number(self, version: R) -> int:
        """The version's number: v1 is the oldest (:mod:`.history`)."""
        return [known.id for known in self.versions].index(version.id) + 1

    def numbers(self) -> dict[str, int]:
        """Every readable version's number, by its id."""
        return {known.id: place for place, known in enumerate(self.versions, 1)}

    @property
    def latest(self) -> R | None:
        """The newest version that can be used."""
        return self.versions[-1] if self.versions else None


def group_versions(stored: StoredVersions[R]) -> tuple[VersionHistory[R], ...]:
    """Versions by dataset (or model), in the order of owner and name; one none of whose
    versions can be used is there too, with its broken versions."""
    readable: dict[tuple[str, str], list[R]] = defaultdict(list)
    broken: dict[tuple[str, str], list[BrokenVersion]] = defaultdict(list)
    for version in stored.versions:
        readable[version.owner, version.name].append(version)
    for unusable in stored.broken:
        broken[unusable.owner, unusable.name].append(unusable)
    return tuple(
        VersionHistory(
            owner,
            name,
            tuple(in_history_order(readable[owner, name])),
            tuple(sorted(broken[owner, name], key=lambda b: b.id)),
        )
        for owner, name in sorted(readable.keys() | broken.keys())
    )


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


class VersionCatalog(ABC, Generic[R]):
    """Reads and publishes one kind of version (under :attr:`ROOT`) in one bucket."""

    ROOT: ClassVar[str]
    KIND: ClassVar[str]
    """The word for what is versioned, in messages: "dataset", "model"."""
    PUBLISH_SCOPE: ClassVar[str]
    """The lock scope of one publish, where the store cannot write conditionally."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket

    @abstractmethod
    def parse(self, raw: bytes, key: str) -> R:
        """The version stored at ``key``, checked in full (see the record's ``from_json``)."""

    def names(self) -> dict[tuple[str, str], list[str]]:
        """Every (owner, name) with its version ids, oldest first, from one listing."""
        found: dict[tuple[str, str], list[str]] = {}
        for item in self.bucket.objects(self.ROOT):
            parts = item.key.split("/")
            if len(parts) == 5 and parts[3] == "versions" and parts[4].endswith(".json"):
                found.setdefault((parts[1], parts[2]), []).append(parts[4][: -len(".json")])
        return {key: sorted(versions) for key, versions in sorted(found.items())}

    def versions(self, owner: str, name: str) -> list[str]:
        prefix = posixpath.dirname(version_key(owner, name, "x", self.ROOT)) + "/"
        return sorted(
            posixpath.basename(item.key)[: -len(".json")]
            for item in self.bucket.objects(prefix)
            if item.key.endswith(".json")
        )

    def latest(self, owner: str, name: str) -> str | None:
        key = latest_key(owner, name, self.ROOT)
        found = self.bucket.get_with_etag(key)  # one request, not a HEAD and then a GET
        if found is None:
            versions = self.versions(owner, name)
            return versions[-1] if versions else None
        return parse_latest(found[0], key)

    def newest(self, owner: str, name: str) -> R | None:
        """The newest version, read whole, or ``None`` when there is none.

        Before a dataset's first version has its pointer, the newest is the last
        one listed, and a listing may show the version of a push that is losing the
        race to publish first, which that push removes a moment later: a version
        gone by the time it is read is looked for again.
        """
        for _ in range(PUBLISH_ATTEMPTS):
            version = self.latest(owner, name)
            if version is None:
                return None
            found = self._stored(owner, name, version)
            if found is not None:
                return found
            log.info("%s/%s: version %s went away as it was read", owner, name, version)
        raise StorageError(f"{owner}/{name}: its newest version kept going away; try again")

    def version(self, ref: VersionRef) -> R:
        number = version_number(ref.version or "")
        if number is not None:
            return self._numbered(ref.owner, ref.name, number)
        version = self.latest(ref.owner, ref.name) if ref.version in (None, LATEST) else ref.version
        if version is None:
            raise UsageError(f"there is no {self.KIND} {ref.owner}/{ref.name} in the store")
        found = self._stored(ref.owner, ref.name, version)
        if found is None:
            raise UsageError(f"{self.KIND} {ref.owner}/{ref.name} has no version {version}")
        return found

    def _stored(self, owner: str, name: str, version: str) -> R | None:
        """The version read whole, or ``None`` when the store has no such object."""
        key = version_key(owner, name, version, self.ROOT)
        found = self.bucket.get_with_etag(key)  # one request, not a HEAD and then a GET
        return None if found is None else self.parse(found[0], key)

    def history(self, owner: str, name: str, workers: int = 8) -> list[R]:
        """The versions in the order of their history (:mod:`.history`), each read in
        full: a version's number needs every version of its dataset or model."""
        versions = [(owner, name, version) for version in self.versions(owner, name)]
        with helper_pool(workers, "versions") as pool:
            read = list(pool.map(self._read, versions))
        broken = [item for item in read if isinstance(item, BrokenVersion)]
        if broken:
            raise broken[0].error
        return in_history_order([item for item in read if not isinstance(item, BrokenVersion)])

    def _numbered(self, owner: str, name: str, number: int) -> R:
        history = self.history(owner, name)
        if not history:
            raise UsageError(f"there is no {self.KIND} {owner}/{name} in the store")
        if number > len(history):
            known = "only v1" if len(history) == 1 else f"v1 to v{len(history)}"
            raise UsageError(f"{self.KIND} {owner}/{name} has no v{number}: it has {known}")
        return history[number - 1]

    def stored_versions(self, workers: int = 8) -> StoredVersions[R]:
        """Every version of every dataset (or model), read in parallel, as each is one
        round trip.

        A version that cannot be used is listed apart with the reason, so that
        one broken object does not hide the others.
        """
        versions = [(o, n, v) for (o, n), ids in self.names().items() for v in ids]
        with helper_pool(workers, "versions") as pool:
            read = list(pool.map(self._read, versions))
        return StoredVersions(
            tuple(item for item in read if not isinstance(item, BrokenVersion)),
            tuple(item for item in read if isinstance(item, BrokenVersion)),
        )

    def _read(self, version: tuple[str, str, str]) -> R | BrokenVersion:
        key = version_key(*version, self.ROOT)
        try:
            if not _well_named(*version):
                raise InvalidStoreObjectError(
                    key, "", f"is not named as a version ({self.ROOT}OWNER/NAME/versions/ID.json)"
                )
            return self.parse(self.bucket.get_bytes(key), key)
        except InvalidStoreObjectError as error:
            return BrokenVersion(*version, error)

    def all_versions(self, workers: int = 8) -> list[R]:
        """Every version of every dataset (or model); one that cannot be used raises its
        error."""
        stored = self.stored_versions(workers)
        if stored.broken:
            raise stored.broken[0].error
        return list(stored.versions)

    def publish(
        self,
        version: R,
        *,
        timing: LockTiming | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> R:
        """Publish ``version`` as the newest of its dataset (or model); return it as published.

        History is linear: the version's parent is whatever was newest when it
        landed, even when another push published a moment before. On stores
        that honour conditional writes, ``latest`` moves only if nobody moved
        it since it was read (``If-Match``); a push that loses that race
        removes its version and publishes again on top of the winner. Other
        stores get the same order from a short lock on the dataset (see
        :mod:`datayard.core.store.locks`). A version is never overwritten.
        ``checkpoint`` hears "latest-read" once the parent is chosen.
        """
        step = checkpoint or (lambda _name: None)
        if self.bucket.honours_conditions():
            return self._publish_conditionally(version, step)
        scope = f"{self.PUBLISH_SCOPE}{version.owner}/{version.name}"
        operation = f"publish of {version.owner}/{version.name}"
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
                next(taking)  # waiting for another publish of this one: milliseconds
            except StopIteration as taken:
                held: HeldLock = taken.value
                break
        with held:
            placed = replace(version, parent=self.latest(version.owner, version.name))  # type: ignore[type-var]
            step("latest-read")
            key = version_key(placed.owner, placed.name, placed.id, self.ROOT)
            if self.bucket.stat(key) is not None:
                raise StorageError(f"version {placed.ref} already exists; versions are immutable")
            self.bucket.put_bytes(key, placed.to_json(), content_type="application/json")
            self.bucket.put_bytes(
                latest_key(placed.owner, placed.name, self.ROOT),
                placed.id.encode(),
                content_type="text/plain",
            )
            return placed

    def _publish_conditionally(self, version: R, step: Checkpoint) -> R:
        key = version_key(version.owner, version.name, version.id, self.ROOT)
        pointer = latest_key(version.owner, version.name, self.ROOT)
        for _ in range(PUBLISH_ATTEMPTS):
            current = self.bucket.get_with_etag(pointer)
            if current is None:
                parent, etag = self.latest(version.owner, version.name), None
            else:
                parent, etag = parse_latest(current[0], pointer), current[1]
            placed = replace(version, parent=parent)  # type: ignore[type-var]
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
            f"{version.owner}/{version.name}: other versions kept being published at the "
            "same moment; run the push again"
        )


class Catalog(VersionCatalog[Manifest]):
    """The datasets' versions: their manifests."""

    ROOT = DATASETS
    KIND = "dataset"
    PUBLISH_SCOPE = "publish/"

    def parse(self, raw: bytes, key: str) -> Manifest:
        return Manifest.from_json(raw, key)


def _well_named(owner: str, name: str, version: str) -> bool:
    """Whether a listed key reads as a version's; others (``..`` in a name, say) are not read."""
    return is_name(owner) and is_name(name) and is_version_id(version)
