"""check_image on files written here, one problem at a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from datayard.core.drive.check import FindingKind, check_image
from datayard.core.drive.decoding import decode_sized
from tests.fixtures.messy_tree import (
    encode,
    exif_rotated_jpeg,
    heic,
    jpeg,
    picture,
    png,
    png_bomb,
)

K = FindingKind


def kinds(path: Path, deep: bool = False, **options: int) -> list[FindingKind]:
    return [finding.kind for finding in check_image(path, deep=deep, **options)]


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.jpg", jpeg(1)),
        ("PHOTO.JPEG", jpeg(2)),
        ("camera.mpo", jpeg(3)),
        ("mask.png", png(4)),
        ("old.bmp", encode(picture(5), "BMP")),
        ("scan.tif", encode(picture(6), "TIFF")),
        ("scan.tiff", encode(picture(7), "TIFF", compression="tiff_lzw")),
        ("raw.dng", encode(picture(8), "TIFF")),
        ("web.webp", encode(picture(9), "WEBP")),
        ("gray.png", encode(picture(10, mode="L"), "PNG")),
        ("padded.jpg", jpeg(11) + bytes(100)),
    ],
)
def test_good_images_have_no_finding_even_decoded(tmp_path: Path, name: str, data: bytes) -> None:
    path = write(tmp_path, name, data)
    assert kinds(path) == []
    assert kinds(path, deep=True) == []


def test_heic_is_read_without_registering_anything_first(tmp_path: Path) -> None:
    data = heic(12)
    if data is None:
        pytest.skip("pillow-heif cannot encode HEIC on this machine")
    path = write(tmp_path, "phone.heic", data)
    # A fresh interpreter: nothing else in this test session registered the opener.
    program = (
        "import sys; from pathlib import Path; from datayard.core.drive.check import check_image; "
        "print([f.kind.value for f in check_image(Path(sys.argv[1]), deep=True)])"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, str(path)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.jpg", b"", K.EMPTY_FILE),
        ("notes.png", b"measured on 12/03, redo\n", K.NOT_AN_IMAGE),
        ("page.jpg", b"<!DOCTYPE html><html><body>404</body></html>", K.NOT_AN_IMAGE),
        ("report.png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", K.NOT_AN_IMAGE),
        ("anim.jpg", encode(picture(20), "GIF"), K.UNSUPPORTED_FORMAT),
        ("huge.png", png_bomb(), K.DECOMPRESSION_BOMB),
        ("flat.png", png_bomb(0, 10), K.CORRUPT_IMAGE),
        ("photo.jpg", png(21), K.WRONG_EXTENSION),
        ("photo.png", jpeg(22), K.WRONG_EXTENSION),
        ("strip.png", encode(picture(23, size=(1010, 10)), "PNG"), K.EXTREME_ASPECT),
        ("depth.png", encode(picture(24, mode="L").convert("I;16"), "PNG"), K.HIGH_BIT_DEPTH),
        ("depth.tif", encode(picture(25, mode="L").convert("I;16"), "TIFF"), K.HIGH_BIT_DEPTH),
        ("print.jpg", encode(picture(26, mode="CMYK"), "JPEG"), K.CMYK),
        ("phone.jpg", exif_rotated_jpeg(27, orientation=6), K.EXIF_ROTATED),
        ("upside.jpg", exif_rotated_jpeg(28, orientation=3), K.EXIF_ROTATED),
        ("cut.jpg", jpeg(29)[:-400], K.TRUNCATED_IMAGE),
        ("cut.png", png(30)[:-40], K.TRUNCATED_IMAGE),
    ],
)
def test_each_problem_is_found_from_the_header_alone(
    tmp_path: Path, name: str, data: bytes, expected: FindingKind
) -> None:
    assert kinds(write(tmp_path, name, data)) == [expected]


def test_findings_say_what_to_do(tmp_path: Path) -> None:
    (finding,) = check_image(write(tmp_path, "a.jpg", png(31)), rel="set/a.jpg")
    assert finding.path == "set/a.jpg"
    assert finding.detail == "a PNG file named .jpg: rename it to .png"
    (finding,) = check_image(write(tmp_path, "b.jpg", exif_rotated_jpeg(32)))
    assert "rotated 90° clockwise" in finding.detail
    (finding,) = check_image(write(tmp_path, "notes.png", b"not an image\n"))
    assert finding.detail == "the content is text"


def test_orientation_1_is_not_reported(tmp_path: Path) -> None:
    assert kinds(write(tmp_path, "upright.jpg", exif_rotated_jpeg(33, orientation=1))) == []


def test_damage_inside_a_file_needs_a_deep_check(tmp_path: Path) -> None:
    data = bytearray(png(34))
    data[data.index(b"IDAT") + 10] ^= 0xFF  # the end marker stays intact
    damaged = write(tmp_path, "damaged.png", bytes(data))
    cut = encode(picture(35), "BMP")
    truncated_bmp = write(tmp_path, "cut.bmp", cut[: len(cut) // 2])
    assert kinds(damaged) == [] and kinds(truncated_bmp) == []
    assert kinds(damaged, deep=True) == [K.CORRUPT_IMAGE]
    assert kinds(truncated_bmp, deep=True) == [K.TRUNCATED_IMAGE]


def test_the_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = write(tmp_path, "small.jpg", jpeg(36))
    assert kinds(path) == []
    (finding,) = check_image(path, max_pixels=1000)
    assert finding.kind is K.DECOMPRESSION_BOMB
    assert finding.detail == "64x48 = 3,072 pixels, over the limit of 1,000"
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS > 1000


def test_a_file_that_cannot_be_opened_is_reported_not_raised(tmp_path: Path) -> None:
    folder = tmp_path / "looks_like.jpg"
    folder.mkdir()
    assert kinds(folder) == [K.UNREADABLE_IMAGE]


def test_a_reduced_decode_still_tells_the_full_upright_size(tmp_path: Path) -> None:
    rotated = write(tmp_path, "phone.jpg", exif_rotated_jpeg(29, orientation=6))  # 64 x 48 stored
    image, size = decode_sized(rotated, max_side=16)
    assert size == (48, 64)
    assert image.size[1] > image.size[0] and max(image.size) <= 16
