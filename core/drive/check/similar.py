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
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from datayard.core.drive.decoding import decode

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
_ROWS_PER_STEP = 2048
"""Rows of a group compared at once: bounds memory on a group of thousands of dark frames."""


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
    grey = picture.convert("L")
    short = _phash(grey, SHORT_SIDE, LOW)
    if short is None:
        return None
    long = _phash(grey, LONG_SIDE, 2 * LOW)
    assert long is not None  # a picture flat at 32x32 is flat at 64x64
    return Fingerprint(int.from_bytes(np.packbits(short).tobytes(), "big"), _packed(long))


def _phash(grey: Image.Image, side: int, low: int) -> np.ndarray | None:
    pixels = np.asarray(grey.resize((side, side), Image.Resampling.LANCZOS), dtype=np.float64)
    if pixels.std() < FLAT:
        return None
    basis = _dct_basis(side)[:low]
    frequencies = basis @ pixels @ basis.T
    bits: np.ndarray = frequencies > np.median(frequencies)
    return bits


@functools.cache
def _dct_basis(side: int) -> np.ndarray:
    """The DCT-II as a matrix (without SciPy's factor 2: the signs against the median
    do not change)."""
    k = np.arange(side)[:, None]
    n = np.arange(side)[None, :]
    return np.cos(np.pi * k * (2 * n + 1) / (2 * side))


def _packed(bits: np.ndarray) -> bytes:
    return np.packbits(bits).tobytes()


def look_alike_pairs(prints: Sequence[Fingerprint]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of fingerprints that look alike, each once, sorted."""
    if len(prints) < 2:
        return []
    short = np.fromiter((item.short for item in prints), dtype=np.uint64, count=len(prints))
    long = np.frombuffer(b"".join(item.long for item in prints), dtype=np.uint64).reshape(
        len(prints), -1
    )
    found: set[tuple[int, int]] = set()
    for first, second in _candidates(short):
        near = np.bitwise_count(long[first] ^ long[second]).sum(axis=1) <= LONG_DISTANCE
        found.update(zip(first[near].tolist(), second[near].tolist(), strict=True))
    return sorted(found)


def _candidates(short: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Index pairs within :data:`SHORT_DISTANCE` of each other (repeats across blocks)."""
    for shift, width in _blocks(64, SHORT_DISTANCE + 1):
        keys = (short >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        starts = np.flatnonzero(np.diff(keys[order], prepend=np.uint64(1 << 63)) != 0)
        ends = np.append(starts[1:], len(order))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            if end - start > 1:
                yield from _within(short, order[start:end])


def _within(short: np.ndarray, members: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The close pairs of one group, ``first < second``, a bounded slice of rows at a time."""
    values = short[members]
    for row in range(0, len(members), _ROWS_PER_STEP):
        rows = slice(row, row + _ROWS_PER_STEP)
        # Each row against the members from its own on: the pairs before were seen.
        distance = np.bitwise_count(values[rows, None] ^ values[None, row:])
        mine, theirs = np.nonzero(distance <= SHORT_DISTANCE)
        first, second = members[rows][mine], members[row:][theirs]
        keep = first < second
        yield first[keep], second[keep]


def _blocks(bits: int, count: int) -> list[tuple[int, int]]:
    """``count`` disjoint (shift, width) blocks covering ``bits`` bits, as even as can be."""
    widths = [bits // count + (index < bits % count) for index in range(count)]
    shifts = np.cumsum([0, *widths[:-1]]).tolist()
    return list(zip(shifts, widths, strict=True))
