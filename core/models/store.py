"""Adding model versions to the store, getting their weights back, removing models.

Weights are one blob each, under the same rules as a dataset's files: adding
holds the store's shared lock (see :mod:`datayard.core.store.locks`) from
before it asks whether the blob is stored until the version is published, so
that gc, which reads every model version before it deletes, never takes the
blob for garbage in between. Reading proves the bytes by their sha256.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path

from datayard.core.datasets.blobs import fetch_blob
from datayard.core.datasets.manifest import PART_SUFFIX, check_message
from datayard.core.errors import LockLostError, StorageError, UsageError
from datayard.core.events import CancelToken, Checkpoint, Finished, Waiting
from datayard.core.models.version import (
    Lineage,
    ModelCatalog,
    ModelRef,
    ModelVersion,
    WeightsFacts,
    new_model_id,
)
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import MODELS, blob_key, latest_key, version_key
from datayard.core.store.locks import LockTiming, Mode, acquire

_CHUNK = 1 << 20


def add_model(
    bucket: Bucket,
    weights: Path,
    facts: WeightsFacts,
    ref: ModelRef,
    *,
    source: str,
    lineage: Lineage | None = None,
    message: str = "",
    timing: LockTiming | None = None,
    cancel: CancelToken | None = None,
    checkpoint: Checkpoint | None = None,
) -> Generator[Waiting | Finished[ModelVersion], None, None]:
    """Store ``weights`` (described by ``facts``) as the newest version of ``ref``'s model.

    Yields :class:`Waiting` while a gc holds the store, then the published version.
    """
    step = checkpoint or (lambda _name: None)
    sha256, size = _digest(weights)
    version = ModelVersion(
        id=new_model_id(sha256),
        owner=ref.owner,
        name=ref.name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        added_by=getpass.getuser(),
        sha256=sha256,
        size=size,
        facts=facts,
        source=source,
        lineage=lineage or Lineage(),
        message=check_message(message),
    )
    bucket = bucket.heeding(cancel)
    held = yield from acquire(
        bucket,
        Mode.SHARED,
        f"add of model {ref.owner}/{ref.name}",
        timing=timing,
        cancel=cancel,
        checkpoint=checkpoint,
    )
    with held:
        while True:
            _store_blob(bucket, weights, sha256, size)
            step("blob-stored")
            try:
                held.ensure_fresh()
                break
            except LockLostError:
                # A gc may have judged this lock stale and deleted the blob: check again.
                yield from held.regain(cancel=cancel)
        yield Finished(ModelCatalog(bucket).publish(version, timing=timing, checkpoint=checkpoint))


def _store_blob(bucket: Bucket, weights: Path, sha256: str, size: int) -> None:
    key = blob_key(sha256)
    stored = bucket.stat(key)
    if stored is not None and stored.size == size:
        return
    bucket.put_file(key, weights)
    if _digest(weights) != (sha256, size):
        bucket.remove([key])
        raise UsageError(f"{weights} changed while it was being stored; add it again")


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    if size == 0:
        raise UsageError(f"{path} is empty; it holds no weights")
    return digest.hexdigest(), size


def pull_weights(
    bucket: Bucket, version: ModelVersion, target: Path, cancel: CancelToken | None = None
) -> Path:
    """Write the version's weights to ``target``, proven by their sha256 before the file
    takes its name: a ``target`` that exists is replaced only by good bytes."""
    part = target.with_name(target.name + PART_SUFFIX)
    try:
        with part.open("wb") as file:
            fetch_blob(bucket, version.sha256, version.size, file.write, cancel)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


def cached_weights(
    bucket: Bucket, version: ModelVersion, cache: Path, cancel: CancelToken | None = None
) -> Path:
    """The version's weights in ``cache`` (by content, so versions that share bytes share
    the file), pulled on first use."""
    target = cache / f"{version.sha256}.pt"
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        pull_weights(bucket, version, target, cancel)
    return target


def remove_model(bucket: Bucket, owner: str, name: str) -> int:
    """Remove every version of a model; return how many. Its blobs go with the next gc,
    unless another version (of any model) or a dataset names the same bytes."""
    catalog = ModelCatalog(bucket)
    ids = catalog.versions(owner, name)
    if not ids:
        raise UsageError(f"there is no model {owner}/{name} in the store")
    keys = [version_key(owner, name, id_, MODELS) for id_ in ids]
    refused = bucket.remove([*keys, latest_key(owner, name, MODELS)])
    if refused:
        raise StorageError(
            f"the store kept {len(refused)} object(s) of {owner}/{name}: {refused[0]}"
        )
    return len(ids)
