"""The messy tree plants what it says it plants, as Pillow and os (not Datayard) see it."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from PIL import ExifTags, Image

from datayard.core.drive import formats
from tests.fixtures.messy_tree import MessyTree, make_messy_tree


def _files(root: Path) -> dict[str, bytes]:
    contents = {}
    for folder, folders, names in os.walk(root):
        folders[:] = [name for name in folders if not (Path(folder) / name).is_symlink()]
        for name in names:
            path = Path(folder) / name
            contents[path.relative_to(root).as_posix()] = path.read_bytes()
    return contents


def test_the_tree_is_small_and_the_same_every_time(tmp_path: Path) -> None:
    first = make_messy_tree(tmp_path / "one")
    second = make_messy_tree(tmp_path / "two")
    try:
        assert first.findings == second.findings
        assert _files(first.root) == _files(second.root)
        assert sum(len(data) for data in _files(first.root).values()) < 2_000_000
    finally:
        first.restore_permissions()
        second.restore_permissions()


def test_broken_images_are_broken_in_the_planted_way(messy_tree: MessyTree) -> None:
    root = messy_tree.root / "phone_dump"
    bomb = (root / "scan_huge.png").read_bytes()
    assert len(bomb) < 1000
    assert struct.unpack(">II", bomb[16:24]) == (100_000, 100_000)
    assert (root / "IMG_0005.jpg").stat().st_size == 0
    truncated = (root / "IMG_0004.jpg").read_bytes()
    assert truncated.startswith(b"\xff\xd8") and not truncated.endswith(b"\xff\xd9")
    assert (root / "notes.png").read_text(encoding="utf-8").startswith("Mesures")
    with Image.open(root / "IMG_0006.jpg") as image:
        assert image.format == "PNG"
    with Image.open(root / "IMG_0002.jpg") as image:
        assert (image.format, image.mode) == ("JPEG", "CMYK")
    with Image.open(root / "IMG_0003.png") as image:
        assert image.mode == "I;16"
    with Image.open(root / "IMG_0001.jpg") as image:
        assert image.getexif()[ExifTags.Base.Orientation] == 6


def test_every_common_format_is_present(messy_tree: MessyTree) -> None:
    suffixes = {Path(rel).suffix for rel in messy_tree.images}
    assert {".jpg", ".png", ".bmp", ".tif", ".tiff", ".webp"} <= suffixes
    if messy_tree.heic is not None:
        assert messy_tree.heic in messy_tree.images


def test_awkward_paths_exist(messy_tree: MessyTree) -> None:
    root = messy_tree.root
    assert len(messy_tree.long_path) > 200
    assert (root / messy_tree.long_path).is_file()
    assert all((root / rel).is_file() for rel in messy_tree.unicode_paths)
    assert any(not rel.isascii() and " " in rel for rel in messy_tree.unicode_paths)
    loop = root / messy_tree.symlink_loop
    assert loop.is_symlink()
    assert loop.resolve() in loop.parent.resolve().parents
    locked = root / messy_tree.unreadable_folder
    assert stat.S_IMODE(locked.stat().st_mode) == 0


def test_junk_and_hidden_files_are_recognisable(messy_tree: MessyTree) -> None:
    assert messy_tree.junk_count == 5
    assert all(formats.is_junk(Path(rel).name) for rel in messy_tree.junk)
    assert messy_tree.hidden
    assert all(formats.is_hidden(rel.split("/")[0]) for rel in messy_tree.hidden)


def test_expectations_match_the_files(messy_tree: MessyTree) -> None:
    """The description is self-consistent: a wrong expectation would fail both suites."""
    root = messy_tree.root
    set_images = [image for expected in messy_tree.sets for image in expected.pairs]
    assert sorted(set_images) == sorted(messy_tree.images)
    set_labels = {
        label
        for expected in messy_tree.sets
        for label in (*expected.pairs.values(), *expected.orphan_labels)
        if label is not None
    }
    assert set_labels == messy_tree.labels
    for expected in messy_tree.sets:
        assert (root / expected.root).is_dir()
        assert all(not (root / rel).with_suffix(".jpg").exists() for rel in expected.orphan_labels)
    for finding in messy_tree.findings:
        assert os.path.lexists(root / finding.path), finding
    for group in messy_tree.duplicate_groups:
        assert len({(root / rel).read_bytes() for rel in group}) == 1
