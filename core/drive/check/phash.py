"""The arithmetic of :mod:`.similar`: pHash bits of a grey picture, and the search for
pairs of hashes within a distance, with numpy.

Imported by the first comparison, not with the check: see :mod:`.similar`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

from datayard.core.drive.check.similar import FLAT, LONG_DISTANCE, SHORT_DISTANCE

_ROWS_PER_STEP = 2048
"""Rows of a group compared at once: bounds memory on a group of thousands of dark frames."""


def bits(grey: Image.Image, side: int, low: int) -> np.ndarray | None:
    """The pHash of a grey picture resized to ``side`` pixels, from its ``low`` x ``low``
    lowest frequencies; ``None`` when the picture is flat."""
    pixels = np.asarray(grey.resize((side, side), Image.Resampling.LANCZOS), dtype=np.float64)
    if pixels.std() < FLAT:
        return None
    basis = _dct_basis(side)[:low]
    frequencies = basis @ pixels @ basis.T
    signs: np.ndarray = frequencies > np.median(frequencies)
    return signs


@functools.cache
def _dct_basis(side: int) -> np.ndarray:
    """The DCT-II as a matrix (without SciPy's factor 2: the signs against the median
    do not change)."""
    k = np.arange(side)[:, None]
    n = np.arange(side)[None, :]
    return np.cos(np.pi * k * (2 * n + 1) / (2 * side))


def packed(signs: np.ndarray) -> bytes:
    return np.packbits(signs).tobytes()


def close_pairs(shorts: Sequence[int], longs: bytes) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of short hashes within :data:`SHORT_DISTANCE` whose
    long hashes (``longs``: each 32 bytes, in the same order) are within
    :data:`LONG_DISTANCE`, each once, sorted."""
    short = np.fromiter(shorts, dtype=np.uint64, count=len(shorts))
    long = np.frombuffer(longs, dtype=np.uint64).reshape(len(shorts), -1)
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
