"""Opening and decoding image files, one way for the check, the thumbnails and the viewer.

Pillow with pillow-heif reads every format Ultralytics trains on, HEIC
included, which Qt's own image readers do not: an image the check accepts is
one the inspector can show. Decoded images are upright, their EXIF orientation
applied, because training loads them that way and their labels are drawn on
that view.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps

from datayard.core.errors import DatayardError

log = logging.getLogger(__name__)

_HEIF_SUFFIXES = frozenset({".heic", ".heif"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_ORIENTATION = 0x0112
_TRANSPOSING = frozenset({5, 6, 7, 8})
"""EXIF orientations that turn the image a quarter: its width is then its height."""
HEAD_BYTES = 16
"""Enough of a file's start to tell a HEIF file by its brand."""


class UndecodableImageError(DatayardError):
    """An image file that cannot be decoded; the message says why, for the user."""


def prepare_heif(head: bytes, suffix: str) -> None:
    """Teach Pillow HEIF when the name or the first bytes say HEIF.

    Only then: the plugin is slow to import, and most sets hold no HEIC.
    """
    if suffix.lower() in _HEIF_SUFFIXES or (head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS):
        _enable_heif()


@contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """The image, opened lazily (its header read, no pixels); raises as ``Image.open`` does."""
    with path.open("rb") as stream:
        prepare_heif(stream.read(HEAD_BYTES), path.suffix)
        stream.seek(0)
        with Image.open(stream) as image:
            yield image


def decode(path: Path, max_side: int | None = None, *, mode: str = "RGB") -> Image.Image:
    """The image in ``mode`` (RGB, or L for grey), upright, at most ``max_side`` pixels
    on its longer side.

    A JPEG is decoded at a reduced scale when that is enough, which is much
    faster, and straight to grey when grey is asked for. Raises
    :class:`UndecodableImageError`.
    """
    return decode_sized(path, max_side, mode=mode)[0]


def decode_sized(
    path: Path, max_side: int | None = None, *, mode: str = "RGB"
) -> tuple[Image.Image, tuple[int, int]]:
    """:func:`decode`'s image and the full size of the image upright, which a reduced
    copy no longer tells: the size labels and training refer to."""
    try:
        with open_image(path) as image:
            width, height = image.size
            if image.getexif().get(_ORIENTATION, 1) in _TRANSPOSING:
                width, height = height, width
            if max_side is not None:
                image.draft(mode, (max_side, max_side))
                image.thumbnail((max_side, max_side))
            return ImageOps.exif_transpose(image).convert(mode), (width, height)
    except Image.DecompressionBombError:
        raise UndecodableImageError("the image declares too many pixels to be shown") from None
    except Exception as error:  # image plugins raise anything on hostile data
        log.debug("cannot decode %s", path, exc_info=True)
        raise UndecodableImageError(_describe(error)) from error


def _describe(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "the file is gone"
    if isinstance(error, PermissionError):
        return "no permission to read the file"
    if isinstance(error, OSError) and "truncated" in str(error):
        return "the image is truncated (an interrupted copy?)"
    return "not a readable image"


@functools.cache
def _enable_heif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
