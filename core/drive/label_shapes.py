"""The objects a YOLO label file draws: boxes and polygons, for a viewer to overlay.

Lines the check would reject are skipped, not fatal: a viewer shows what it
can, and the check report says what is wrong with the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from datayard.core.drive.check.labels import BOX_VALUES, MIN_POLYGON_VALUES


@dataclass(frozen=True, slots=True)
class Shape:
    class_id: int
    points: tuple[tuple[float, float], ...]
    """Corners as fractions of the image size: four for a box, three or more for a polygon."""
    is_box: bool


def parse_shapes(text: str) -> tuple[Shape, ...]:
    shapes = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < BOX_VALUES or not fields[0].isdigit():
            continue
        try:
            values = [float(field) for field in fields[1:]]
        except ValueError:
            continue
        if not all(math.isfinite(value) for value in values):
            continue
        class_id = int(fields[0])
        if len(fields) == BOX_VALUES:
            x, y, w, h = values
            left, top, right, bottom = x - w / 2, y - h / 2, x + w / 2, y + h / 2
            corners = ((left, top), (right, top), (right, bottom), (left, bottom))
            shapes.append(Shape(class_id, corners, is_box=True))
        elif len(fields) >= MIN_POLYGON_VALUES and len(values) % 2 == 0:
            points = tuple(zip(values[0::2], values[1::2], strict=True))
            shapes.append(Shape(class_id, points, is_box=False))
    return tuple(shapes)


def read_shapes(label: Path) -> tuple[Shape, ...]:
    """The shapes of a label file; raises ``OSError`` when it cannot be read."""
    return parse_shapes(label.read_text("utf-8", errors="replace").lstrip("\ufeff"))
