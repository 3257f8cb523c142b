"""Reading YOLO label files exactly as Ultralytics will, and saying where they break.

A line is ``class x_center y_center width height`` (a box) or ``class x1 y1 x2
y2 x3 y3 ...`` (a polygon), every coordinate a fraction of the image size.
Ultralytics drops the whole image when one line of its label is bad, so every
finding here is about one line, with its 1-based number.

The same parser gives the class ids that the histogram and the push manifest
store, so both agree with what the check accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from datayard.core.drive.check.findings import Finding, FindingKind

BOX_VALUES = 5
"""Tokens of a box line: the class and four coordinates."""
MIN_POLYGON_VALUES = 7
"""Tokens of the smallest polygon line: the class and three points."""

_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class LabelResult:
    """What one label file holds and what is wrong with it.

    ``class_ids`` has one id per line that has a valid class id and the number
    of values of a box or a polygon, in file order, repeats included: the
    objects the file describes, whether or not their coordinates are sane.
    """

    path: str
    class_ids: tuple[int, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Line:
    number: int
    class_id: int | None = None
    shape: str | None = None
    values: tuple[float, ...] = ()
    problems: dict[FindingKind, str] = field(default_factory=dict)

    def flag(self, kind: FindingKind, detail: str) -> None:
        self.problems.setdefault(kind, detail)


def check_label(path: Path, class_count: int | None, *, rel: str | None = None) -> LabelResult:
    """Read and check one label file; ``class_count`` is ``None`` when no names are known."""
    name = rel if rel is not None else path.as_posix()
    try:
        data = path.read_bytes()
    except OSError as error:
        detail = error.strerror or str(error)
        return LabelResult(name, (), (Finding(FindingKind.LABEL_UNREADABLE, name, detail),))
    return parse_label(data, class_count, rel=name)


def parse_label(data: bytes, class_count: int | None = None, *, rel: str = "") -> LabelResult:
    """Check the content of a label file already in memory (the pusher reads it anyway)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        detail = f"not UTF-8 text (byte {error.start} is {data[error.start]:#04x})"
        return LabelResult(rel, (), (Finding(FindingKind.LABEL_UNREADABLE, rel, detail),))
    findings: list[Finding] = []
    if text.startswith(_BOM):
        detail = "line 1: starts with a byte-order mark: save the file as UTF-8 without BOM"
        findings.append(Finding(FindingKind.LABEL_MALFORMED, rel, detail, line=1))
        text = text[len(_BOM) :]
    lines = _parse_lines(text, class_count)
    findings += _line_findings(lines, rel)
    mixed = _mixed_shapes(lines, rel)
    if mixed is not None:
        findings.append(mixed)
    class_ids = tuple(
        line.class_id for line in lines if line.class_id is not None and line.shape is not None
    )
    return LabelResult(rel, class_ids, tuple(findings))


def _parse_lines(text: str, class_count: int | None) -> list[_Line]:
    """Parse the lines Ultralytics parses: it strips the file, then skips empty lines.

    So blank lines at either end are harmless, an empty line in the middle too,
    but a line of only spaces in the middle is a line without values.
    """
    raw = text.splitlines()
    filled = [index for index, line in enumerate(raw) if line.strip()]
    if not filled:
        return []
    return [
        _parse_line(index + 1, raw[index].split(), class_count)
        for index in range(filled[0], filled[-1] + 1)
        if raw[index]
    ]


def _parse_line(number: int, tokens: list[str], class_count: int | None) -> _Line:
    line = _Line(number)
    if not tokens:
        line.flag(FindingKind.LABEL_MALFORMED, "only whitespace: delete the line")
        return line
    count = len(tokens)
    if count == BOX_VALUES:
        line.shape = "box"
    elif count >= MIN_POLYGON_VALUES and count % 2 == 1:
        line.shape = "polygon"
    else:
        line.flag(
            FindingKind.LABEL_MALFORMED,
            f"{count} values: a box has 5 (class x y w h), a polygon an odd number, at least 7",
        )
    line.class_id = _class_id(tokens[0])
    if line.class_id is None:
        line.flag(FindingKind.LABEL_CLASS_ID, f"class id {tokens[0]!r} is not an integer >= 0")
    elif class_count is not None and line.class_id >= class_count:
        line.flag(
            FindingKind.LABEL_CLASS_BEYOND_NAMES,
            f"class {line.class_id} is beyond the set's {class_count} class names "
            f"(ids 0-{class_count - 1}): add the name or fix the label",
        )
    values: list[float] = []
    for token in tokens[1:]:
        try:
            values.append(float(token))
        except ValueError:
            line.flag(FindingKind.LABEL_MALFORMED, f"{token!r} is not a number")
    line.values = tuple(values)
    if not all(math.isfinite(value) for value in values):
        line.flag(FindingKind.LABEL_NOT_FINITE, "contains NaN or infinity")
    outside = [value for value in values if math.isfinite(value) and not 0 <= value <= 1]
    if outside:
        line.flag(FindingKind.LABEL_COORDINATES, f"{outside[0]:g} is outside [0, 1]")
    return line


def _class_id(token: str) -> int | None:
    """A class id as Ultralytics reads it: a float that happens to be a whole number."""
    if not token.isascii():
        return None
    try:
        value = float(token)
    except ValueError:
        return None
    if not math.isfinite(value) or not value.is_integer() or value < 0:
        return None
    return int(value)


def _line_findings(lines: list[_Line], rel: str) -> list[Finding]:
    findings: list[Finding] = []
    first_seen: dict[tuple[int | None, tuple[float, ...]], int] = {}
    for line in lines:
        for kind, detail in line.problems.items():
            findings.append(Finding(kind, rel, f"line {line.number}: {detail}", line=line.number))
        if line.problems:
            continue
        key = (line.class_id, line.values)
        first = first_seen.setdefault(key, line.number)
        if first != line.number:
            detail = f"line {line.number}: repeats line {first}"
            findings.append(
                Finding(FindingKind.LABEL_DUPLICATE_LINE, rel, detail, line=line.number)
            )
    return findings


def _mixed_shapes(lines: list[_Line], rel: str) -> Finding | None:
    boxes = [line.number for line in lines if line.shape == "box"]
    polygons = [line.number for line in lines if line.shape == "polygon"]
    if not boxes or not polygons:
        return None
    detail = f"boxes on {_lines(boxes)}, polygons on {_lines(polygons)}"
    return Finding(FindingKind.LABEL_MIXED_SHAPES, rel, detail)


def _lines(numbers: list[int], shown: int = 5) -> str:
    """``line 3`` or ``lines 1, 2, 4``, cut after a few."""
    listed = ", ".join(str(number) for number in numbers[:shown])
    more = ", ..." if len(numbers) > shown else ""
    return f"line {listed}" if len(numbers) == 1 else f"lines {listed}{more}"
