"""Where the class-name tags of a label go: each at its shape's corner, none over another.

Tags keep their size on screen at any zoom, so whether two of them collide
depends on the zoom: they are placed in screen pixels, again after each zoom.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSizeF


def place_tags(corners: Sequence[QPointF], sizes: Sequence[QSizeF], top: float) -> list[QRectF]:
    """A rectangle per tag, in the coordinates of ``corners`` (screen pixels).

    A tag sits over its shape's top-left corner, or inside the shape under that
    corner when it would stick out above ``top`` (the image's edge). One that
    would cover an earlier tag moves down, below it: earlier tags keep their
    place, so a label's first objects are tagged where their shapes are.
    """
    placed: list[QRectF] = []
    # Tags are compared only with those in the same bands of the screen: a label of
    # a thousand objects is laid out again at each turn of the wheel.
    band = max((size.height() for size in sizes), default=1.0) or 1.0
    bands: defaultdict[int, list[QRectF]] = defaultdict(list)

    def covered(rect: QRectF) -> QRectF | None:
        for row in _rows(rect, band):
            for other in bands[row]:
                if other.intersects(rect):
                    return other
        return None

    for corner, size in zip(corners, sizes, strict=True):
        rect = QRectF(corner.x(), corner.y() - size.height(), size.width(), size.height())
        if rect.top() < top:
            rect.moveTop(corner.y())
        # Each move goes below the tag hit, which then cannot be hit again: this ends.
        while (hit := covered(rect)) is not None:
            rect.moveTop(hit.bottom())
        placed.append(rect)
        for row in _rows(rect, band):
            bands[row].append(rect)
    return placed


def _rows(rect: QRectF, band: float) -> range:
    """The bands ``rect`` reaches into."""
    return range(math.floor(rect.top() / band), math.floor(rect.bottom() / band) + 1)
