"""A dataset version's validation images, with their labels, for trying a model on them.

Trying a model on the images its scores were measured on turns those scores
into pictures: which objects it misses and what it takes for one. Only the
split is pulled, into the cache and by content (a second try is a stat per
file), never the whole version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.pull import PullResult, pull
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, FileFailed, Finished, Transfer
from datayard.core.store.bucket import Bucket

TRIED = "tried"
"""The cache's folder of pulled splits: ``tried/OWNER/NAME/VERSION-ID``."""


def tried_split(manifest: Manifest) -> str:
    """The split a model is tried on: val, else test, else the only one there is."""
    splits = manifest.split_counts()
    for split in ("val", "test", *sorted(splits)):
        if splits[split]:
            return split
    raise UsageError(f"{manifest.ref} holds no images")


def pull_tried_images(
    bucket: Bucket,
    manifest: Manifest,
    cache: Path,
    *,
    database: Path | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[Transfer | FileFailed | Finished[Path]]:
    """Pull the :func:`tried_split` of ``manifest`` (images and labels) into ``cache``;
    the result is its images' folder."""
    split = tried_split(manifest)
    subset = replace(manifest, files=tuple(f for f in manifest.files if f.split == split))
    destination = cache / TRIED / manifest.owner / manifest.name / manifest.id
    result: PullResult | None = None
    for event in pull(bucket, subset, destination, database=database, cancel=cancel):
        if isinstance(event, Finished):
            result = event.result
        else:
            yield event
    assert result is not None
    result.check_complete("nothing was predicted")
    yield Finished(result.destination / "images" / split)
