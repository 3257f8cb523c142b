"""A stored version's files fetched to be looked at: the blob cache's bound, the diff by image."""

from __future__ import annotations

import os
from pathlib import Path

from datayard.core.datasets.blob_cache import BlobCache
from datayard.core.datasets.stored_images import image_diff
from tests.fixtures.datasets import fresh_bucket, noise, png, publish, upload
from tests.fixtures.services import S3Server


def test_the_blob_cache_keeps_under_its_bound_and_drops_the_least_used_first(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    blobs = [upload(bucket, noise(1000, seed)) for seed in range(4)]
    cache = BlobCache(tmp_path / "blobs", bucket, limit=3000)
    for age, sha in enumerate(blobs[:3], 1):
        os.utime(cache.fetch(sha, 1000), (age, age))  # used long ago, in this order
    assert cache.fetch(blobs[0], 1000).read_bytes() == noise(1000, 0)  # used again: kept
    assert cache.fetched == 3

    cache.fetch(blobs[3], 1000)  # 4000 bytes: pruned down to 80% of the bound
    kept = {path.name for path in (tmp_path / "blobs").glob("??/*")}
    assert kept == {blobs[0], blobs[3]}
    assert cache.fetched == 4


def test_the_diff_by_image_counts_a_label_change_as_its_images(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    first = {
        "images/train/same.png": png((1, 1, 1)),
        "labels/train/same.txt": b"0 0.5 0.5 0.1 0.1\n",
        "images/train/content.png": png((2, 2, 2)),
        "images/train/labelled.png": png((3, 3, 3)),
        "images/train/unlabelled.png": png((4, 4, 4)),
        "labels/train/unlabelled.txt": b"1 0.5 0.5 0.1 0.1\n",
        "images/val/gone.png": png((5, 5, 5)),
        "labels/val/gone.txt": b"1 0.5 0.5 0.1 0.1\n",
    }
    second = {k: v for k, v in first.items() if "gone" not in k and "unlabelled.txt" not in k}
    second["images/train/content.png"] = png((9, 9, 9))
    second["labels/train/labelled.txt"] = b"0 0.2 0.2 0.1 0.1\n"
    second["images/val/new.png"] = png((6, 6, 6))
    old, new = publish(bucket, "a/b", first), publish(bucket, "a/b", second)

    found = image_diff(old, new)
    assert found.added == ("images/val/new.png",)
    assert found.removed == ("images/val/gone.png",)
    assert found.changed == (
        "images/train/content.png",
        "images/train/labelled.png",
        "images/train/unlabelled.png",
    )
