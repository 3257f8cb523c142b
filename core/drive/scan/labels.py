"""Class ids of a YOLO label file, just enough for per-class counts.

The full validation of labels (coordinates, ranges, duplicates) belongs to the
check; a scan only needs to know which classes a file uses, and must never fail
on a file it cannot make sense of, so bad lines are skipped here.
"""

from __future__ import annotations

from pathlib import Path

MIN_VALUES = 4
"""A box has 4 values after the class id; polygons and poses have more."""


def parse_class_ids(content: bytes) -> tuple[int, ...]:
    """The class id of each object line, skipping lines that cannot be an object.

    A line counts when it starts with a class id followed by at least a box's
    worth of values; whether the values are numbers in range is the check's
    business. Works on bytes so the hasher can parse what it already read,
    without decoding it or reading the file a second time.
    """
    ids: list[int] = []
    for line in content.splitlines():
        fields = line.split()
        if len(fields) > MIN_VALUES and fields[0].isdigit():
            ids.append(int(fields[0]))
    return tuple(ids)


def read_class_ids(path: Path) -> tuple[int, ...]:
    """Read a label file and return its class ids (see :func:`parse_class_ids`)."""
    return parse_class_ids(path.read_bytes())
