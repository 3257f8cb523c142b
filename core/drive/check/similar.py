"""Images that look the same without having the same bytes: re-encoded, resized or slightly
cropped copies, and neighbouring frames of a video.

Byte-identical copies are found by their sha256; these need the pixels. Each
image gets two perceptual hashes (pHash as the ``imagehash`` library defines
it: the signs of the lowest frequencies of the grey image's DCT, each against
their median), computed from a reduced decode, which for a JPEG costs a
fraction of a full one. The short hash (64 bits, from
32x32 pixels) finds candidates fast; the long one (256 bits, from 64x64)
confirms them. The short hash alone, at the distance that still matches a copy
cropped by 5%, would match unrelated photos somewhere among 100,000 images;
the long one separates them by a wide margin (see the README's figures).

``imagehash`` itself is not used: it needs SciPy (over 100 MB installed) for
one 32x32 DCT, which is two matrix products. A test holds this module to
``imagehash``'s bits.

Candidates are found without comparing every pair: two 64-bit hashes that
differ in at most ``d`` bits agree exactly on at least one of ``d + 1``
disjoint blocks of bits (the pigeonhole principle), so images are grouped by
each block in turn and compared within their groups only.

The arithmetic, with numpy, is in :mod:`.phash`, imported by the first
comparison: numpy takes 0.05 s to import, and most commands that check (a push,
whose check compares bytes only) never compare pictures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datayard.core.drive.decoding import decode

if TYPE_CHECKING:
    from PIL import Image

SHORT_SIDE = 32
LONG_SIDE = 64
LOW = 8
"""Rows and columns of the lowest frequencies the short hash keeps (the long one keeps 16)."""
SHORT_DISTANCE = 8
"""At most this many of the short hash's 64 bits differ between candidates (a 5% crop
differs by 4-8, unrelated photos by about 32)."""
LONG_DISTANCE = 72
"""At most this many of the long hash's 256 bits differ between confirmed look-alikes (a
5% crop differs by 40-66, unrelated photos by about 128)."""
FLAT = 2.0
"""Grey levels of standard deviation below which an image is flat (blank, one colour):
its hash is noise, and flat images are not compared."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    short: int
    """64 bits."""
    long: bytes
    """256 bits."""

    def to_text(self) -> str:
        return f"{self.short:016x}{self.long.hex()}"

    @classmethod
    def from_text(cls, text: str) -> Fingerprint:
        return cls(int(text[:16], 16), bytes.fromhex(text[16:]))


def fingerprint(path: Path) -> Fingerprint | None:
    """The image's hashes, ``None`` for a flat image; raises :class:`UndecodableImageError`.

    A JPEG is decoded straight to grey at 1/2 to 1/8 of its size (no smaller than
    the long hash's side), which is most of the speed: half the time of the
    thumbnails' colour decode at their size.
    """
    return fingerprint_of(decode(path, LONG_SIDE, mode="L"))


def fingerprint_of(picture: Image.Image) -> Fingerprint | None:
    """The hashes of a decoded picture, ``None`` when it is flat."""
    from datayard.core.drive.check import phash

    grey = picture.convert("L")
    short = phash.bits(grey, SHORT_SIDE, LOW)
    if short is None:
        return None
    long = phash.bits(grey, LONG_SIDE, 2 * LOW)
    assert long is not None  # a picture flat at 32x32 is flat at 64x64
    return Fingerprint(int.from_bytes(phash.packed(short), "big"), phash.packed(long))


def look_alike_pairs(prints: Sequence[Fingerprint]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of fingerprints that look alike, each once, sorted."""
    if len(prints) < 2:
        return []
    from datayard.core.drive.check import phash

    return phash.close_pairs(
        [item.short for item in prints], b"".join(item.long for item in prints)
    )
