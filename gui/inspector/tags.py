"""Where the class-name tags of a label go: each at its shape's corner, none over another.

Tags keep their size on screen at any zoom, so whether two of them collide
depends on the zoom: they are placed in screen pixels, again after each zoom.
"""

from __future__ import annotations

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
    for corner, size in zip(corners, sizes, strict=True):
        rect = QRectF(corner.x(), corner.y() - size.height(), size.width(), size.height())
        if rect.top() < top:
            rect.moveTop(corner.y())
        # Each move goes below the tag hit, which then cannot be hit again: this ends.
        while (
            hit := next((other for other in placed if other.intersects(rect)), None)
        ) is not None:
            rect.moveTop(hit.bottom())
        placed.append(rect)
    return placed
