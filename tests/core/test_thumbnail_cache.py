"""Thumbnails are made once, then read from the disk cache; broken images never raise."""

from __future__ import annotations

import os
from pathlib import Path

from datayard.core.drive.thumbnails import ThumbnailCache
from tests.fixtures.messy_tree import MessyTree


def test_second_load_reads_the_cache(tmp_path: Path, messy_tree: MessyTree) -> None:
    images = sorted((messy_tree.root / "road_signs/images/train").glob("*.*g"))
    cache = ThumbnailCache(tmp_path / "thumbs")
    first = list(cache.get_all(images))
    assert [t.cached for t in first] == [False] * len(images)
    assert all(t.file is not None and t.file.is_file() for t in first)
    assert len(list((tmp_path / "thumbs").rglob("*.jpg"))) == len(images)
    again = list(ThumbnailCache(tmp_path / "thumbs").get_all(images))
    assert [t.cached for t in again] == [True] * len(images)
    assert [t.file for t in again] == [t.file for t in first]


def test_a_changed_image_gets_a_new_thumbnail(tmp_path: Path, messy_tree: MessyTree) -> None:
    image = messy_tree.root / "road_signs/images/train/sign_000.jpg"
    cache = ThumbnailCache(tmp_path / "thumbs")
    before = cache.get(image)
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = cache.get(image)
    assert not after.cached and after.file != before.file


def test_broken_images_are_remembered_not_raised(tmp_path: Path, messy_tree: MessyTree) -> None:
    phone = messy_tree.root / "phone_dump"
    broken = ["IMG_0004.jpg", "IMG_0005.jpg", "notes.png", "scan_huge.png"]
    cache = ThumbnailCache(tmp_path / "thumbs")
    for name in broken:
        made = cache.get(phone / name)
        assert made.file is None and made.error and not made.cached
        assert cache.get(phone / name).cached  # the verdict is cached too
    assert (
        cache.get(phone / "IMG_0004.jpg").error == "the image is truncated (an interrupted copy?)"
    )
    assert cache.get(tmp_path / "missing.jpg").error == "the file cannot be read any more"
