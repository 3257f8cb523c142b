"""What is wrong with a label file, as findings with their 1-based line numbers.

The lines are read by :mod:`datayard.core.drive.labels`, whose rules are
Ultralytics' own; this adds what needs the whole file or its set: classes
beyond the set's names, repeated lines, boxes mixed with polygons. Ultralytics
drops the whole image when one line of its label is bad, so every line counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datayard.core.drive.check.findings import Finding, FindingKind
from datayard.core.drive.labels import Fault, Label, LabelObject, parse_label

_NO_AREA = 1e-12
"""Twice the area of a polygon below which its points lie on one line (rounding aside)."""
TRAINING_SIZE = 640
"""Ultralytics' default training size (``imgsz``): the longer side of every image, in pixels."""
SMALLEST_SIDE = 2
"""Pixels at the training size below which Ultralytics' augmentation drops an object
(``box_candidates``' ``wh_thr``)."""
MOST_OBJECTS = 300
"""Ultralytics' ``max_det``: detections kept per image when it validates and predicts."""

_KIND_OF_FAULT = {
    Fault.NOT_TEXT: FindingKind.LABEL_UNREADABLE,
    Fault.MALFORMED: FindingKind.LABEL_MALFORMED,
    Fault.CLASS_ID: FindingKind.LABEL_CLASS_ID,
    Fault.NOT_FINITE: FindingKind.LABEL_NOT_FINITE,
    Fault.OUTSIDE: FindingKind.LABEL_COORDINATES,
}


@dataclass(frozen=True, slots=True)
class LabelResult:
    """What one label file holds and what is wrong with it.

    ``class_ids`` has one id per object the file describes, in file order,
    repeats included (see :mod:`datayard.core.drive.labels`): the same ids the
    scan counts and the manifest stores.
    """

    path: str
    class_ids: tuple[int, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def check_label(path: Path, class_count: int | None, *, rel: str | None = None) -> LabelResult:
    """Read and check one label file; ``class_count`` is ``None`` when no names are known."""
    name = rel if rel is not None else path.as_posix()
    try:
        data = path.read_bytes()
    except OSError as error:
        detail = error.strerror or str(error)
        return LabelResult(name, (), (Finding(FindingKind.LABEL_UNREADABLE, name, detail),))
    return check_label_data(data, class_count, rel=name)


def check_label_data(data: bytes, class_count: int | None = None, *, rel: str = "") -> LabelResult:
    """Check the content of a label file already in memory."""
    label = parse_label(data)
    findings = [
        *_line_findings(label, rel),
        *_beyond_names(label, class_count, rel),
        *_repeats(label, rel),
        *_no_area(label, rel),
        *_too_small(label, rel),
    ]
    findings.sort(key=lambda finding: finding.line or 0)  # stable: a line's findings stay in order
    findings += filter(None, (_mixed_shapes(label, rel), _too_many(label, rel)))
    return LabelResult(rel, label.class_ids, tuple(findings))


def _line_findings(label: Label, rel: str) -> Iterator[Finding]:
    for problem in label.problems:
        kind = _KIND_OF_FAULT[problem.fault]
        if problem.line is None:
            yield Finding(kind, rel, problem.detail)
        else:
            detail = f"line {problem.line}: {problem.detail}"
            yield Finding(kind, rel, detail, line=problem.line)


def _beyond_names(label: Label, class_count: int | None, rel: str) -> Iterator[Finding]:
    if class_count is None:
        return
    for item in label.objects:
        if item.class_id >= class_count:
            detail = (
                f"line {item.line}: class {item.class_id} is beyond the set's {class_count} "
                f"class names (ids 0-{class_count - 1}): add the name or fix the label"
            )
            yield Finding(FindingKind.LABEL_CLASS_BEYOND_NAMES, rel, detail, line=item.line)


def _repeats(label: Label, rel: str) -> Iterator[Finding]:
    """Objects written twice (Ultralytics drops the repeats); lines with problems aside."""
    troubled = {problem.line for problem in label.problems}
    first_seen: dict[tuple[int, tuple[float, ...]], int] = {}
    for item in label.objects:
        if item.line in troubled:
            continue
        first = first_seen.setdefault((item.class_id, item.values), item.line)
        if first != item.line:
            detail = f"line {item.line}: repeats line {first}"
            yield Finding(FindingKind.LABEL_DUPLICATE_LINE, rel, detail, line=item.line)


def _no_area(label: Label, rel: str) -> Iterator[Finding]:
    """Boxes and polygons that outline nothing; lines with problems aside."""
    troubled = {problem.line for problem in label.problems}
    for item in label.objects:
        if item.line in troubled:
            continue
        why = _why_no_area(item)
        if why:
            yield Finding(
                FindingKind.LABEL_NO_AREA, rel, f"line {item.line}: {why}", line=item.line
            )


def _too_small(label: Label, rel: str) -> Iterator[Finding]:
    """Objects under :data:`SMALLEST_SIDE` pixels wide or high at the training size.

    The image's own size is not needed: training scales its longer side to
    :data:`TRAINING_SIZE`, so a fraction of it is at most that many pixels
    (the shorter side gets fewer, which only makes the object smaller).
    Objects without area, and lines with problems, are reported as such.
    """
    troubled = {problem.line for problem in label.problems}
    for item in label.objects:
        if item.line in troubled or _why_no_area(item):
            continue
        xs, ys = zip(*item.points, strict=True)
        width, height = (max(xs) - min(xs)) * TRAINING_SIZE, (max(ys) - min(ys)) * TRAINING_SIZE
        if min(width, height) < SMALLEST_SIDE:
            detail = (
                f"line {item.line}: at most {width:.1f} x {height:.1f} pixels at the training "
                f"size of {TRAINING_SIZE}"
            )
            yield Finding(FindingKind.LABEL_TINY_OBJECT, rel, detail, line=item.line)


def _too_many(label: Label, rel: str) -> Finding | None:
    count = len(label.objects)
    if count <= MOST_OBJECTS:
        return None
    detail = f"{count} objects: at least {count - MOST_OBJECTS} can never all be found"
    return Finding(FindingKind.LABEL_MANY_OBJECTS, rel, detail)


def _why_no_area(item: LabelObject) -> str:
    if item.is_box:
        width, height = item.values[2:]
        if width == 0 or height == 0:
            return f"the box is {width:g} wide and {height:g} high"
        return ""
    points = item.points
    if len(set(points)) < 3:
        return f"the polygon has {len(set(points))} distinct point(s); it needs 3"
    twice_area = sum(
        x1 * y2 - x2 * y1
        for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True)
    )
    return "" if abs(twice_area) > _NO_AREA else "the polygon's points lie on one line"


def _mixed_shapes(label: Label, rel: str) -> Finding | None:
    boxes = [item.line for item in label.objects if item.is_box]
    polygons = [item.line for item in label.objects if not item.is_box]
    if not boxes or not polygons:
        return None
    detail = f"boxes on {_lines(boxes)}, polygons on {_lines(polygons)}"
    return Finding(FindingKind.LABEL_MIXED_SHAPES, rel, detail)


def _lines(numbers: list[int], shown: int = 5) -> str:
    """``line 3`` or ``lines 1, 2, 4``, cut after a few."""
    listed = ", ".join(str(number) for number in numbers[:shown])
    more = ", ..." if len(numbers) > shown else ""
    return f"line {listed}" if len(numbers) == 1 else f"lines {listed}{more}"
