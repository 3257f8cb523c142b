"""The one label parser: what each line means, on the edge cases of the YOLO format."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datayard.core.drive.check import (
    CheckReport,
    FindingKind,
    Severity,
    check,
    check_label_data,
)
from datayard.core.drive.inventory import Inventory
from datayard.core.drive.labels import Fault, LabelObject, class_ids, load_label, parse_label
from datayard.core.drive.scan import scan
from datayard.core.events import run_to_end
from tests.fixtures.messy_tree import jpeg

F = Fault
BOX = ".5 .5 .1 .1"


def read(text: str | bytes) -> tuple[tuple[int, ...], list[tuple[int | None, Fault]]]:
    """The class ids and the (line, fault) pairs of a label's content."""
    data = text.encode() if isinstance(text, str) else text
    label = parse_label(data)
    assert class_ids(data) == label.class_ids, "the scan's quick path agrees with the parser"
    return label.class_ids, [(problem.line, problem.fault) for problem in label.problems]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("", ()),
        ("\n\n  \n", ()),
        (f"0 {BOX}\n", (0,)),
        (f"1.0 {BOX}", (1,)),  # Ultralytics reads a float, then the integer
        (f"1e0 {BOX}", (1,)),
        (f"-0 {BOX}", (0,)),
        (f"1_0 {BOX}", (10,)),  # Python's and NumPy's float both read it as 10
        (f"\u0661 {BOX}", (1,)),  # an Arabic-Indic one: float reads any Unicode digit
        (f"{2**24 - 1} {BOX}", (2**24 - 1,)),
        ("0 0 0 1 1\n", (0,)),  # the whole image
        ("2 .1 .1 .9 .1 .5 .9", (2,)),  # the smallest polygon: three points
        ("2 .1 .1 .9 .1 .9 .9 .1 .9 .5 .5 .2 .3", (2,)),
        (f"0\t{BOX}  \t\n", (0,)),  # tabs and trailing whitespace
        (f"0 {BOX}\r\n1 {BOX}\r\n", (0, 1)),  # CRLF
        (f"0 {BOX}\r1 {BOX}\r", (0, 1)),  # old Mac line ends
        (f"0 {BOX}\x0b1 {BOX}\x0c2 {BOX}", (0, 1, 2)),  # vertical tab, form feed and
        (f"0 {BOX}\u20281 {BOX}", (0, 1)),  # Unicode's line ends: Ultralytics uses splitlines
        (f"0\u00a0{BOX}", (0,)),  # a no-break space separates values like a space
        (f"\ufeff0 {BOX}\n", (0,)),  # a byte-order mark: Ultralytics reads utf-8-sig
        (f"\n0 {BOX}\n   \n\n1 {BOX}\n  \n", (0, 1)),  # blank lines anywhere are skipped
        ("0 1.005 -0.005 .1 .1", (0,)),  # within Ultralytics' 1% tolerance: it clips
        (f"0 {BOX}\n1 .1 .1 .9 .1 .5 .9", (0, 1)),  # both shapes: the check says they mix
        (f"0 {BOX}\n0 {BOX}", (0, 0)),  # repeats count: the check says they repeat
    ],
)
def test_lines_without_problems(text: str, ids: tuple[int, ...]) -> None:
    assert read(text) == (ids, [])


@pytest.mark.parametrize(
    ("text", "ids", "problems"),
    [
        (f"-1 {BOX}", (), [(1, F.CLASS_ID)]),
        (f"1.5 {BOX}", (), [(1, F.CLASS_ID)]),
        (f"nan {BOX}", (), [(1, F.CLASS_ID)]),
        (f"inf {BOX}", (), [(1, F.CLASS_ID)]),
        (f"car {BOX}", (), [(1, F.CLASS_ID)]),
        (f"{2**24} {BOX}", (), [(1, F.CLASS_ID)]),  # float32 would read another class
        ("0 .5 .5 .1", (), [(1, F.MALFORMED)]),  # 4 tokens
        ("0 .5 .5 .1 .1 .3", (), [(1, F.MALFORMED)]),  # 6 tokens: neither shape
        ("0 .1 .1 .9 .1 .5 .9 .5", (), [(1, F.MALFORMED)]),  # half a point
        ("0 .1 .1", (), [(1, F.MALFORMED)]),  # a one-point outline
        ("0", (), [(1, F.MALFORMED)]),
        ("0 .5 abc .1 .1", (), [(1, F.MALFORMED)]),
        ("0 .5 0,5 .1 .1", (), [(1, F.MALFORMED)]),  # a decimal comma
        ("0 nan .5 .1 .1", (), [(1, F.NOT_FINITE)]),
        ("0 .5 -inf .1 .1", (), [(1, F.NOT_FINITE)]),
        ("0 .5 .5 .1 1e999", (), [(1, F.NOT_FINITE)]),
        # Out of range: still an object (counted, drawn), with its problem.
        ("0 1.2 .5 .1 .1", (0,), [(1, F.OUTSIDE)]),
        ("0 -0.02 .5 .1 .1", (0,), [(1, F.OUTSIDE)]),
        ("0 .5 .5 -0.005 .1", (0,), [(1, F.OUTSIDE)]),  # a negative width, even that small
        ("0 320 240 64 48", (0,), [(1, F.OUTSIDE)]),  # pixels instead of fractions
        ("1 .1 .1 1.5 .1 .5 .9", (1,), [(1, F.OUTSIDE)]),
        ("0 1e308 1e308 1e308 1e308", (0,), [(1, F.OUTSIDE)]),  # finite, though the sum is not
        ("car 1.5 .5 .2", (), [(1, F.MALFORMED), (1, F.CLASS_ID), (1, F.OUTSIDE)]),
        (
            f"0 {BOX}\n\n7 .5 .5\n2 {BOX}\n1 nan .5 .1 .1\n",
            (0, 2),
            [(3, F.MALFORMED), (5, F.NOT_FINITE)],  # numbered as an editor numbers them
        ),
        (b"\xff\xd8\xff\xe0 JFIF", (), [(None, F.NOT_TEXT)]),
        (b"0 .5 .5 .1 .1\n\xe9", (), [(None, F.NOT_TEXT)]),  # Latin-1, not UTF-8
    ],
)
def test_lines_with_problems(
    text: str | bytes, ids: tuple[int, ...], problems: list[tuple[int | None, Fault]]
) -> None:
    assert read(text) == (ids, problems)


def test_the_class_id_written_as_a_float_and_a_line_of_six_values() -> None:
    """Scan, check and viewer once read this three ways: (2,), (1,) and nothing."""
    label = parse_label(b"1.0 .5 .5 .1 .1\n2 .1 .1 .2 .2 .3")
    assert label.objects == (LabelObject(1, 1, (0.5, 0.5, 0.1, 0.1)),)
    (problem,) = label.problems
    assert (problem.line, problem.fault) == (2, F.MALFORMED)
    assert problem.detail == (
        "6 values: a box has 5 (class x y w h), a polygon an odd number, at least 7"
    )


def test_scan_check_and_viewer_read_the_same_objects(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(1))
    (tmp_path / "a.txt").write_bytes(b"1.0 .5 .5 .1 .1\n2 .1 .1 .2 .2 .3")
    inventory = run_to_end(scan(tmp_path), Inventory)
    report = run_to_end(check(inventory), CheckReport)

    scanned = next(entry for entry in inventory.files if entry.rel == "a.txt").class_ids
    checked = {stats.class_id: stats.instances for stats in report.sets[0].classes}
    drawn = [item.class_id for item in load_label(tmp_path / "a.txt").objects]
    assert (scanned, checked, drawn) == ((1,), {1: 1}, [1])
    assert [(finding.kind, finding.line) for finding in report.findings] == [
        (FindingKind.LABEL_MALFORMED, 2)
    ]


def test_objects_give_their_outline() -> None:
    box, polygon = parse_label(b"0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.9 0.1 0.9 0.8\n").objects
    assert box.is_box and not polygon.is_box
    corners = [coordinate for point in box.points for coordinate in point]
    assert corners == pytest.approx([0.4, 0.3, 0.6, 0.3, 0.6, 0.7, 0.4, 0.7])
    assert polygon.points == ((0.1, 0.1), (0.9, 0.1), (0.9, 0.8))


# Plain tokens, with the odd ones among them, so that both paths of class_ids run.
CLASSES = st.sampled_from(
    ["0", "2", "5"] * 4 + ["1.0", "-1", "-0", "1e0", "1_0", "\u0661", "16777216", "nan"]
)
VALUES = st.sampled_from(
    ["0.5", ".5", "0.", "1", "0", "0.25"] * 4
    + ["1.005", "1.02", "-0.005", "-0.5", "320", "1e308", "inf", "x"]
)
SPACES = st.sampled_from([" "] * 20 + ["  ", "\t", "\u00a0", "\x1f", "\x1c"])
ENDS = st.sampled_from(
    ["\n"] * 12 + ["\r\n", "\r", "\x0b", "\x0c", "\x1e", "\u2028", "\x85", " \n"]
)


@st.composite
def lines(draw: st.DrawFn) -> str:
    """Mostly boxes and polygons, with the odd token, separator or count."""
    count = draw(st.sampled_from([4, 4, 4, 4, 6, 8, 0, 3, 5, 7]))
    tokens = [draw(CLASSES), *(draw(VALUES) for _ in range(count))]
    return "".join(draw(SPACES) + token for token in tokens) + draw(ENDS)


@given(content=st.lists(lines(), max_size=6), bom=st.booleans())
def test_the_quick_path_agrees_with_the_line_reader(content: list[str], bom: bool) -> None:
    data = ("\ufeff" * bom + "".join(content)).encode()
    assert class_ids(data) == parse_label(data).class_ids


# Ultralytics' own verdict ------------------------------------------------------

_VERIFY = """
import json, sys
from datayard.core.training import offline
offline.prepare(__import__("pathlib").Path(sys.argv[1]))
from PIL import Image
from ultralytics.data.utils import verify_image_label
Image.new("RGB", (32, 32)).save(sys.argv[1] + "/image.jpg")
verdicts = []
for text in json.loads(sys.stdin.read()):
    with open(sys.argv[1] + "/label.txt", "wb") as file:
        file.write(text.encode("utf-8", "surrogateescape"))
    result = verify_image_label((sys.argv[1] + "/image.jpg", sys.argv[1] + "/label.txt",
                                 "", False, 3, 0, 0, False))
    verdicts.append(result[8] == 0)  # no corrupt image/label
print(json.dumps(verdicts))
"""

TRAINS_THE_SAME = [
    *(f"{head} {BOX}" for head in ("1.0", "1e0", "-0", "\u0661", "-1", "1.5", "nan", "car", "7")),
    "0 .5 .5 .1",
    "0 .5 .5 .1 .1 .3",
    "0 .1 .1 .9 .1 .5 .9",
    "0 .1 .1 .9 .1 .5 .9 .5",
    "0 .1 .1",
    f"0 {BOX}\n   \n\n1 {BOX}\n",
    f"0 {BOX}\r\n1 {BOX}\r\n",
    f"0 {BOX}\x0b1 {BOX}\u20282 {BOX}",
    f"0\u00a0{BOX}",
    f"\ufeff0 {BOX}",
    "0 1.005 -0.005 .1 .1",
    "0 1.02 .5 .1 .1",
    "0 -0.02 .5 .1 .1",
    "0 .5 .5 -0.005 .1",
    "0 nan .5 .1 .1",
    "0 .5 inf .1 .1",
    "0 320 240 64 48",
    f"0 {BOX}\n1 .1 .1 .9 .1 .5 .9",  # boxes mixed with polygons
    f"0 {BOX}\n0 {BOX}",  # a repeat: dropped, the image trains
    "",
]
STRICTER_HERE = [
    "0 -0.5 .1 .5 .1 .5 .9",  # a point out of the image, its bounding box in range: clipped
    "0 .1 .1 .9 .1 .5 .9\n1 .2 .2",  # a one-point outline beside a polygon
]


@pytest.mark.skipif(find_spec("ultralytics") is None, reason="needs the train extra")
def test_an_image_trains_exactly_when_the_check_finds_no_error(tmp_path: Path) -> None:
    texts = TRAINS_THE_SAME + STRICTER_HERE
    done = subprocess.run(
        [sys.executable, "-c", _VERIFY, str(tmp_path)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    trains = dict(zip(texts, json.loads(done.stdout.splitlines()[-1]), strict=True))
    ours = {text: _passes(text) for text in texts}
    assert {text: ours[text] for text in TRAINS_THE_SAME} == {
        text: trains[text] for text in TRAINS_THE_SAME
    }
    assert [(trains[text], ours[text]) for text in STRICTER_HERE] == [(True, False)] * 2


def _passes(text: str) -> bool:
    result = check_label_data(text.encode(), 3)
    return not any(finding.severity is Severity.ERROR for finding in result.findings)
