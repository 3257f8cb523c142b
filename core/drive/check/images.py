"""Will a training run load this image, and load it as the user thinks?

By default only the header is parsed (Pillow's ``Image.open`` is lazy) plus two
cheap reads: the first bytes, to name what a non-image really is, and the last
bytes, where JPEG and PNG carry an end marker. A missing end marker is the
usual sign of an interrupted copy, so only those files are fully decoded to
confirm. ``deep=True`` decodes every image, which also finds damage in the
middle of a file, at the cost of reading and decompressing everything.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path
from typing import IO

from PIL import ExifTags, Image, TiffImagePlugin, UnidentifiedImageError

from datayard.core.drive.check.findings import Finding, FindingKind, Severity
from datayard.core.drive.decoding import prepare_heif

log = logging.getLogger(__name__)

MAX_ASPECT = 100
"""Longest side over shortest side beyond which an image is a line once resized."""

TRAINABLE_FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "TIFF", "WEBP", "HEIF", "PPM"})
"""Pillow's names for the formats Ultralytics reads (Pillow opens PFM as "PPM")."""

_FORMATS_OF_SUFFIX: dict[str, frozenset[str]] = {
    ".jpg": frozenset({"JPEG", "MPO"}),
    ".jpeg": frozenset({"JPEG", "MPO"}),
    ".mpo": frozenset({"JPEG", "MPO"}),
    ".png": frozenset({"PNG"}),
    ".bmp": frozenset({"BMP"}),
    ".tif": frozenset({"TIFF"}),
    ".tiff": frozenset({"TIFF"}),
    ".dng": frozenset({"TIFF"}),
    ".webp": frozenset({"WEBP"}),
    ".heic": frozenset({"HEIF"}),
    ".pfm": frozenset({"PPM"}),
}
"""Which real formats each image extension may hold. Cameras write many JPEGs
as MPO (several pictures in one file) and DNG is TIFF inside."""

_SUFFIX_OF_FORMAT = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "WEBP": ".webp",
    "HEIF": ".heic",
    "PPM": ".pfm",
}

_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"
_BITS_OF_MODE = {"I": 32, "F": 32, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16}
_TIFF_BITS_PER_SAMPLE = 258
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)
"""Formats whose files Pillow refuses only when their header is damaged."""
_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Office document"),
    (b"\x7fELF", "a program"),
)
_ORIENTATION = "EXIF orientation "
"""How an EXIF_ROTATED finding's detail starts, before the orientation's number."""
_QUARTER_TURNS = frozenset({"5", "6", "7", "8"})
"""The orientations that turn an image by 90 degrees, as its detail writes them."""
_ROTATIONS = {
    2: "mirrored left to right",
    3: "rotated 180°",
    4: "mirrored top to bottom",
    5: "mirrored and rotated 90° counter-clockwise",
    6: "rotated 90° clockwise",
    7: "mirrored and rotated 90° clockwise",
    8: "rotated 90° counter-clockwise",
}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)
"""What Pillow's plugins raise on damaged data; none of them means a bug here."""


def check_image(
    path: Path,
    suffix: str | None = None,
    deep: bool = False,
    *,
    rel: str | None = None,
    max_pixels: int | None = None,
) -> list[Finding]:
    """Problems of one image file, as :class:`Finding` objects named ``rel``.

    ``suffix`` defaults to the file's own extension; ``max_pixels`` defaults to
    Pillow's ``Image.MAX_IMAGE_PIXELS``. Pillow itself refuses images over twice
    its own limit whatever ``max_pixels`` says, so a higher limit only helps up
    to there.
    """
    name = rel if rel is not None else path.as_posix()
    suffix = (suffix if suffix is not None else path.suffix).lower()
    limit = max_pixels if max_pixels is not None else Image.MAX_IMAGE_PIXELS
    try:
        with path.open("rb") as stream:
            return _check_stream(stream, name, suffix, deep, limit)
    except OSError as error:
        return [Finding(FindingKind.UNREADABLE_IMAGE, name, error.strerror or str(error))]


def _check_stream(
    stream: IO[bytes], rel: str, suffix: str, deep: bool, limit: int | None
) -> list[Finding]:
    head = stream.read(64)
    if not head:
        return [Finding(FindingKind.EMPTY_FILE, rel, "the file is empty")]
    prepare_heif(head, suffix)
    stream.seek(0)
    try:
        image = Image.open(stream)
    except Image.DecompressionBombError as error:
        return [Finding(FindingKind.DECOMPRESSION_BOMB, rel, str(error))]
    except UnidentifiedImageError:
        claimed = next((name for magic, name in _IMAGE_SIGNATURES if head.startswith(magic)), None)
        if claimed is not None:
            detail = f"a {claimed} file whose header Pillow cannot read"
            return [Finding(FindingKind.CORRUPT_IMAGE, rel, detail)]
        detail = f"the content is {_describe(head)}"
        return [Finding(FindingKind.NOT_AN_IMAGE, rel, detail)]
    except _DECODE_ERRORS as error:
        return [Finding(FindingKind.CORRUPT_IMAGE, rel, f"the header is damaged: {error}")]
    with image:
        findings = _header_findings(image, head, rel, suffix, limit)
        if any(finding.severity is Severity.ERROR for finding in findings):
            return findings
        integrity = _integrity(image, stream, rel, deep)
        return findings if integrity is None else [*findings, integrity]


def _header_findings(
    image: Image.Image, head: bytes, rel: str, suffix: str, limit: int | None
) -> list[Finding]:
    real = image.format or "unknown"
    findings: list[Finding] = []
    if real not in TRAINABLE_FORMATS:
        detail = f"a {real} image named {suffix or 'without extension'}"
        findings.append(Finding(FindingKind.UNSUPPORTED_FORMAT, rel, detail))
    elif real not in _FORMATS_OF_SUFFIX.get(suffix, frozenset()):
        better = _SUFFIX_OF_FORMAT.get(real, "")
        detail = f"a {real} file named {suffix or 'without extension'}: rename it to {better}"
        findings.append(Finding(FindingKind.WRONG_EXTENSION, rel, detail))
    width, height = image.size
    if width <= 0 or height <= 0:
        detail = f"the header says {width}x{height} pixels"
        findings.append(Finding(FindingKind.CORRUPT_IMAGE, rel, detail))
        return findings
    if limit is not None and width * height > limit:
        detail = f"{width}x{height} = {width * height:,} pixels, over the limit of {limit:,}"
        findings.append(Finding(FindingKind.DECOMPRESSION_BOMB, rel, detail))
    if max(width, height) > MAX_ASPECT * min(width, height):
        detail = f"{width}x{height} pixels"
        findings.append(Finding(FindingKind.EXTREME_ASPECT, rel, detail))
    bits = _bits_per_channel(image, head)
    if bits > 8:
        detail = f"{bits} bits per channel ({image.mode})"
        findings.append(Finding(FindingKind.HIGH_BIT_DEPTH, rel, detail))
    if image.mode == "CMYK":
        findings.append(Finding(FindingKind.CMYK, rel, "stored as CMYK"))
    orientation = _orientation(image)
    if orientation in _ROTATIONS:
        detail = f"{_ORIENTATION}{orientation}: training sees it {_ROTATIONS[orientation]}"
        findings.append(Finding(FindingKind.EXIF_ROTATED, rel, detail))
    return findings


def quarter_turned(finding: Finding) -> bool:
    """Whether the finding says its image's EXIF orientation turns it by 90 degrees,
    so that training sees its width and height swapped (its cached detail is all
    that is kept of it)."""
    if finding.kind is not FindingKind.EXIF_ROTATED:
        return False
    orientation = finding.detail.removeprefix(_ORIENTATION).partition(":")[0]
    return orientation in _QUARTER_TURNS


def _integrity(image: Image.Image, stream: IO[bytes], rel: str, deep: bool) -> Finding | None:
    """Decode when asked to, or when the end marker says the file was cut short."""
    ends_well = _ends_with_marker(image.format, stream)
    if not deep and ends_well:
        return None
    try:
        _decode(stream)
    except _DECODE_ERRORS as error:
        truncated = not ends_well or "truncated" in str(error)
        kind = FindingKind.TRUNCATED_IMAGE if truncated else FindingKind.CORRUPT_IMAGE
        return Finding(kind, rel, f"decoding failed: {error}")
    return None


def _decode(stream: IO[bytes]) -> None:
    """Verify checksums, then decode every pixel, each on a fresh open as Pillow requires.

    Decoding alone ignores checksums: a PNG with damaged data can decode to
    garbage without an error, which ``verify`` catches.
    """
    stream.seek(0)
    with Image.open(stream) as image:
        image.verify()
    stream.seek(0)
    with Image.open(stream) as image:
        image.load()


def _ends_with_marker(real: str | None, stream: IO[bytes]) -> bool:
    """Whether the file ends as its format says a complete file ends.

    Formats without an end marker count as ending well: only decoding tells.
    """
    marker = {"JPEG": _JPEG_END, "MPO": _JPEG_END, "PNG": _PNG_END}.get(real or "")
    if marker is None:
        return True
    size = os.fstat(stream.fileno()).st_size
    if size < len(marker):
        return False
    stream.seek(size - len(marker))
    return stream.read(len(marker)) == marker


def _bits_per_channel(image: Image.Image, head: bytes) -> int:
    """Bits per channel, which Pillow's mode hides for 16-bit colour images."""
    if image.format == "PNG" and len(head) > 24:
        return head[24]  # the IHDR bit depth: 8 bytes signature, 8 chunk header, 8 size
    if isinstance(image, TiffImagePlugin.TiffImageFile):
        bits = image.tag_v2.get(_TIFF_BITS_PER_SAMPLE)
        if isinstance(bits, tuple) and bits:
            return max(int(value) for value in bits)
        if isinstance(bits, int):
            return bits
    return _BITS_OF_MODE.get(image.mode, 8)


def _orientation(image: Image.Image) -> int:
    # Cameras write the orientation tag into JPEG, TIFF, WebP and HEIF files; for
    # a PNG, reading EXIF means decoding the whole file to find an eXIf chunk.
    if image.format not in _EXIF_FORMATS:
        return 1
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        log.debug("unreadable EXIF block", exc_info=True)
        return 1
    return value if isinstance(value, int) else 1


_EXIF_FORMATS = frozenset({"JPEG", "MPO", "TIFF", "WEBP", "HEIF"})


def _describe(head: bytes) -> str:
    """Name what a file Pillow cannot read holds, so the user knows what went wrong."""
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    text = head.decode("utf-8", errors="replace")
    # The last few bytes may cut a multi-byte character in two.
    if "\ufffd" in text[:-3] or any(char < " " and char not in "\t\r\n" for char in text):
        return "binary data of no image format Pillow knows"
    if text.lstrip().startswith("<"):
        return "HTML or XML (a web page saved instead of the image?)"
    return "text"
