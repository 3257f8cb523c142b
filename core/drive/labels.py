"""The one reading of YOLO label files: the objects each line describes, and what is wrong.

The scan (class ids for the counts and the manifest), the check (its
findings), the viewer (the shapes it draws) and pull (what it tells the scan
cache) all read labels here, so they agree on every file. The rules are
Ultralytics' own, from ``verify_image_label`` in ``ultralytics/data/utils.py``
(8.4), because it decides whether an image trains:

- The file is UTF-8 text, with or without a byte-order mark: Ultralytics opens
  it as ``utf-8-sig``. Other bytes make it no label at all.
- Lines end as ``str.splitlines`` ends them (``\\n``, ``\\r\\n``, ``\\r`` and
  Unicode's other line ends). Empty and whitespace-only lines are skipped
  wherever they stand, and values are split on any run of whitespace (tabs,
  trailing spaces), as Ultralytics does. Line numbers count every line.
- A value is a number when Python's ``float`` reads it, which is what NumPy's
  conversion does: ``1e0``, ``.5``, ``+1`` and ``1_0`` are numbers, ``1,5``
  is not.
- The class id is a whole number from 0 to 2**24 - 1. ``1.0`` and ``1e0`` are
  class 1, as Ultralytics reads them (float, then int); ``-1`` and ``1.5`` it
  refuses; beyond 2**24 its float32 no longer holds the id as written.
- A box is a class and 4 values (``x_center y_center width height``), a
  polygon a class and an even number of values, at least 6 (three points).
  Any other count is malformed: a class and 5 values is neither (Ultralytics
  wants 5 columns), an odd number of coordinates leaves half a point.
  Ultralytics also takes a one-point outline beside real polygons; it has no
  area and no labelling tool writes one, so it is malformed here.
- NaN and infinity are refused (they fail Ultralytics' range test).
- Coordinates are fractions of the image size, in [0, 1] within Ultralytics'
  tolerance of 0.01 (it clips what lies in that margin), and a box's width and
  height are not negative. For a polygon every point must be in range, which
  is stricter than Ultralytics: it tests only the outline's bounding box, and
  trains on an outline reaching out of the image clipped, cutting the object
  without a word.

A line whose coordinates are out of range still describes an object: it is
counted and drawn, with its problem, because labels written in pixels or
drawn past the border still say which classes the labeller meant and where.
A line that breaks any other rule is no object. Whether a file mixes boxes and
polygons, repeats a line, or uses classes without names concerns the whole
file or its set: the check asks that of the objects read here. Pose labels
(keypoints after the box) are not read as such.
"""

from __future__ import annotations

import codecs
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

RULES_VERSION = 2
"""Changes with the rules above, so that class ids cached under older rules are read again."""

BOX_VALUES = 4
MIN_POLYGON_VALUES = 6
MAX_CLASS_ID = 2**24 - 1
"""The largest id a float32 holds exactly: Ultralytics reads class ids as float32."""
TOLERANCE = 0.01
"""How far outside [0, 1] Ultralytics lets a coordinate be (and then clips it)."""


class Fault(Enum):
    """What can be wrong with a label file or one of its lines."""

    NOT_TEXT = "not text"
    MALFORMED = "malformed"
    CLASS_ID = "class id"
    NOT_FINITE = "not finite"
    OUTSIDE = "outside"


@dataclass(frozen=True, slots=True)
class LabelObject:
    """One object of a label file, as written."""

    line: int
    class_id: int
    values: tuple[float, ...]
    """``x_center y_center width height`` for a box, ``x1 y1 x2 y2 ...`` for a polygon."""

    @property
    def is_box(self) -> bool:
        return len(self.values) == BOX_VALUES

    @property
    def points(self) -> tuple[tuple[float, float], ...]:
        """Its outline as fractions of the image size: a box's four corners, a polygon's points."""
        if self.is_box:
            x, y, w, h = self.values
            left, top, right, bottom = x - w / 2, y - h / 2, x + w / 2, y + h / 2
            return ((left, top), (right, top), (right, bottom), (left, bottom))
        return tuple(zip(self.values[0::2], self.values[1::2], strict=True))


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    """1-based; ``None`` when the problem is the whole file's."""
    fault: Fault
    detail: str


@dataclass(frozen=True, slots=True)
class Label:
    """What a label file says: its objects in file order, and its problems by line."""

    objects: tuple[LabelObject, ...]
    problems: tuple[Problem, ...]

    @property
    def class_ids(self) -> tuple[int, ...]:
        """One id per object, repeats included: what class counts add up."""
        return tuple(item.class_id for item in self.objects)


def parse_label(data: bytes) -> Label:
    """Read a label file's content, line by line."""
    text = _text(data)
    if isinstance(text, Problem):
        return Label((), (text,))
    objects: list[LabelObject] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if tokens:
            _read_line(number, tokens, objects, problems)
    return Label(tuple(objects), tuple(problems))


def load_label(path: Path) -> Label:
    """Read and parse a label file; raises ``OSError`` when it cannot be read."""
    return parse_label(path.read_bytes())


def class_ids(data: bytes) -> tuple[int, ...]:
    """``parse_label(data).class_ids``, quickly for a file whose every line is an object.

    The scan reads every label of trees of 100,000 files, nearly all of them
    sound, from the bytes it has just hashed. For those, only the tests that
    make an object are run, on bytes and without an object or a message per
    line; a file that fails them is read again by :func:`parse_label`. Bytes
    split as text does when they are ASCII without vertical tabs and form
    feeds, which end lines in text and not in bytes (other control characters
    stay inside a value, which then is no number).
    """
    plain = data.removeprefix(codecs.BOM_UTF8)
    if plain.isascii() and b"\x0b" not in plain and b"\x0c" not in plain:
        quick = _objects_class_ids(plain)
        if quick is not None:
            return quick
    return parse_label(data).class_ids


def _text(data: bytes) -> str | Problem:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        detail = f"not UTF-8 text (byte {error.start} is {data[error.start]:#04x})"
        return Problem(None, Fault.NOT_TEXT, detail)


def _objects_class_ids(plain: bytes) -> tuple[int, ...] | None:
    """The class ids when every line is an object, else ``None``.

    The tests of :func:`_read_line` that make an object, and only those:
    whether coordinates are in range does not change the ids.
    """
    ids: list[int] = []
    for tokens in map(bytes.split, plain.splitlines()):
        if not tokens:
            continue
        if not _shaped(len(tokens) - 1):
            return None
        try:
            head = float(tokens[0])
            total = sum(map(float, tokens))
        except ValueError:
            return None
        # A sum is finite only when every term is (an overflow just takes the long way).
        if not _is_class(head) or not math.isfinite(total):
            return None
        ids.append(int(head))
    return tuple(ids)


def _read_line(
    number: int, tokens: list[str], objects: list[LabelObject], problems: list[Problem]
) -> None:
    """Add the line's object, its problems, or both (coordinates out of range).

    Each rule is one test here, cheap when it passes: the scan reads every line
    of every label of a tree. Only a line that fails one is described.
    """
    count = len(tokens) - 1
    shaped = _shaped(count)
    class_id = _class_id(tokens[0])
    try:
        values = tuple(map(float, tokens[1:]))
        not_a_number = None
    except ValueError:
        not_a_number = next(token for token in tokens[1:] if not _is_number(token))
        values = tuple(float(token) for token in tokens[1:] if _is_number(token))
    finite = math.isfinite(sum(values)) or all(map(math.isfinite, values))  # the sum may overflow
    in_range = finite and _in_range(values)
    if shaped and class_id is not None and not_a_number is None and finite:
        objects.append(LabelObject(number, class_id, values))
        if in_range:
            return
    faults: dict[Fault, str] = {}
    if not shaped:
        faults[Fault.MALFORMED] = (
            f"{count + 1} values: a box has 5 (class x y w h), a polygon an odd number, at least 7"
        )
    if class_id is None:
        faults[Fault.CLASS_ID] = (
            f"class id {tokens[0]!r} is not a whole number from 0 to {MAX_CLASS_ID}"
        )
    if not_a_number is not None:
        faults.setdefault(Fault.MALFORMED, f"{not_a_number!r} is not a number")
    if not finite:
        faults[Fault.NOT_FINITE] = "contains NaN or infinity"
    elif not in_range:
        faults[Fault.OUTSIDE] = _outside(values)
    problems += (Problem(number, fault, detail) for fault, detail in faults.items())


def _shaped(values: int) -> bool:
    """Whether a line with this many values after the class is a box or a polygon."""
    return values == BOX_VALUES or (values >= MIN_POLYGON_VALUES and not values % 2)


def _class_id(token: str) -> int | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return int(value) if _is_class(value) else None


def _is_class(value: float) -> bool:
    """A class id as Ultralytics reads it: a float that is a whole number in range."""
    return value.is_integer() and 0 <= value <= MAX_CLASS_ID  # is_integer: False for NaN, inf


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _in_range(values: tuple[float, ...]) -> bool:
    """Finite coordinates in [0, 1], give or take the tolerance, and a box's size not negative."""
    if values and (min(values) < -TOLERANCE or max(values) > 1 + TOLERANCE):
        return False
    return len(values) != BOX_VALUES or min(values[2:]) >= 0


def _outside(values: tuple[float, ...]) -> str:
    """Why coordinates that are not :func:`_in_range` are not."""
    for value in values:
        if not -TOLERANCE <= value <= 1 + TOLERANCE:
            return f"{value:g} is outside [0, 1]"
    return f"the box's size {values[2]:g} x {values[3]:g} is negative"
