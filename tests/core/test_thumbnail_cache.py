"""Thumbnails are made once, then read from the disk cache; broken images never raise."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from datayard.core.drive.thumbnails import THUMBNAIL_PX, ThumbnailCache
from datayard.core.errors import DatayardError
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


def test_a_changed_stored_image_has_its_old_picture_beside_the_new(tmp_path: Path) -> None:
    old, new = tmp_path / "old.png", tmp_path / "new.png"
    Image.new("RGB", (300, 400), (200, 30, 30)).save(old)  # upright, then landscape
    Image.new("RGB", (400, 300), (30, 200, 200)).save(new)
    fetched: list[Path] = []

    def fetcher(path: Path) -> Callable[[], Path]:
        def fetch() -> Path:
            fetched.append(path)
            if not path.exists():
                raise DatayardError(f"{path.name} is missing from the store")
            return path

        return fetch

    cache = ThumbnailCache(tmp_path / "thumbs")
    source = Path("images/train/a.png")
    gone = cache.get_changed(
        source, ("0" * 64, fetcher(tmp_path / "gone.png")), ("1" * 64, fetcher(new))
    )
    assert gone.file is None and gone.error == "the old image: gone.png is missing from the store"
    made = cache.get_changed(source, ("2" * 64, fetcher(old)), ("1" * 64, fetcher(new)))
    assert made.source == source and made.file is not None and not made.cached
    with Image.open(made.file) as picture:
        # As tall as the upright one alone; each in its half, the old on the left.
        assert picture.size == (THUMBNAIL_PX, THUMBNAIL_PX)
        left, right = picture.getpixel((THUMBNAIL_PX // 4, 64)), picture.getpixel((96, 64))
    assert all(abs(a - b) < 24 for a, b in zip(left, (200, 30, 30), strict=True))
    assert all(abs(a - b) < 24 for a, b in zip(right, (30, 200, 200), strict=True))
    fetched.clear()
    again = cache.get_changed(source, ("2" * 64, fetcher(old)), ("1" * 64, fetcher(new)))
    assert again.cached and again.file == made.file and fetched == []
    # Each side's thumbnail is kept too: browsing either version decodes nothing.
    assert cache.get_stored(source, "2" * 64, fetcher(old)).cached
