"""check_label and check_label_data: exact findings, line numbers and class ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from datayard.core.drive.check import FindingKind, check_label, check_label_data

K = FindingKind


def found(text: str, class_count: int | None = 3) -> list[tuple[FindingKind, int | None]]:
    result = check_label_data(text.encode(), class_count, rel="a.txt")
    return [(finding.kind, finding.line) for finding in result.findings]


@pytest.mark.parametrize(
    ("text", "class_ids"),
    [
        ("", ()),
        ("\n\n", ()),
        ("0 0.5 0.5 0.2 0.2\n", (0,)),
        ("0 0.5 0.5 0.2 0.2\n2 0 0 1 1", (0, 2)),
        ("1 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9\n", (1,)),
        ("1 0.1 0.1 0.9 0.1 0.5 0.9\n", (1,)),
        ("\n0 0.5 0.5 0.2 0.2\n\n1 0.5 0.5 0.2 0.2\n  \n", (0, 1)),
        ("0 0.5 0.5 0.2 0.2\r\n1 0.5 0.5 0.2 0.2\r\n", (0, 1)),
        ("2.0 0.5 0.5 0.2 0.2\n", (2,)),
        ("0\t0.5\t0.5\t0.2\t0.2  \n", (0,)),
        ("0 0.5 0.5 0.2 0.2\n   \n1 0.5 0.5 0.2 0.2\n", (0, 1)),  # Ultralytics skips it
        ("\ufeff0 0.5 0.5 0.2 0.2\n", (0,)),  # Ultralytics reads labels as utf-8-sig
    ],
)
def test_valid_files_have_no_finding(text: str, class_ids: tuple[int, ...]) -> None:
    result = check_label_data(text.encode(), 3, rel="a.txt")
    assert result.findings == ()
    assert result.ok
    assert result.class_ids == class_ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 0.5 0.5 0.2\n", [(K.LABEL_MALFORMED, 1)]),
        ("0 0.5 0.5 0.2 0.2 0.9\n", [(K.LABEL_MALFORMED, 1)]),
        ("0 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9 0.5\n", [(K.LABEL_MALFORMED, 1)]),
        ("0 0.5 abc 0.2 0.2\n", [(K.LABEL_MALFORMED, 1)]),
        ("car 0.5 0.5 0.2 0.2\n", [(K.LABEL_CLASS_ID, 1)]),
        ("1.5 0.5 0.5 0.2 0.2\n", [(K.LABEL_CLASS_ID, 1)]),
        ("-1 0.5 0.5 0.2 0.2\n", [(K.LABEL_CLASS_ID, 1)]),
        ("0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2 0.2\n", [(K.LABEL_CLASS_BEYOND_NAMES, 2)]),
        ("0 nan 0.5 0.2 0.2\n", [(K.LABEL_NOT_FINITE, 1)]),
        ("0 0.5 inf 0.2 0.2\n", [(K.LABEL_NOT_FINITE, 1)]),
        ("0 1.2 0.5 0.2 0.2\n", [(K.LABEL_COORDINATES, 1)]),
        ("0 0.5 0.5 -0.1 0.2\n", [(K.LABEL_COORDINATES, 1)]),
        ("1 0.1 0.1 0.9 0.1 1.5 0.9\n", [(K.LABEL_COORDINATES, 1)]),
        (
            "0 0.3 0.3 0.2 0.2\n1 0.5 0.5 0.1 0.1\n0 0.30 0.3 0.2 0.20\n",
            [(K.LABEL_DUPLICATE_LINE, 3)],
        ),
        ("0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.9 0.1 0.5 0.9\n", [(K.LABEL_MIXED_SHAPES, None)]),
        ("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0 0.2\n", [(K.LABEL_NO_AREA, 2)]),
        ("1 0.1 0.1 0.1 0.1 0.5 0.9\n", [(K.LABEL_NO_AREA, 1)]),
        ("1 0.1 0.1 0.5 0.5 0.9 0.9\n", [(K.LABEL_NO_AREA, 1)]),
        # 0.002 of 640 pixels is 1.28: under the 2 pixels Ultralytics' augmentation keeps.
        ("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.002 0.2\n", [(K.LABEL_TINY_OBJECT, 2)]),
        ("0 0.5 0.5 0.004 0.004\n", []),
        ("1 0.1 0.1 0.5 0.101 0.9 0.1\n", [(K.LABEL_TINY_OBJECT, 1)]),
        (
            "car 1.5 0.5 0.2\n",
            [(K.LABEL_MALFORMED, 1), (K.LABEL_CLASS_ID, 1), (K.LABEL_COORDINATES, 1)],
        ),
    ],
)
def test_each_problem_is_found_on_its_line(
    text: str, expected: list[tuple[FindingKind, int | None]]
) -> None:
    assert found(text) == expected


def test_without_class_names_any_id_is_accepted() -> None:
    assert found("42 0.5 0.5 0.2 0.2\n", class_count=None) == []
    assert found("42 0.5 0.5 0.2 0.2\n", class_count=3) == [(K.LABEL_CLASS_BEYOND_NAMES, 1)]


def test_class_ids_count_every_object_whose_class_and_shape_are_readable() -> None:
    text = (
        "0 0.5 0.5 0.2 0.2\n"  # counted
        "0 0.5 0.5 0.2 0.2\n"  # a repeat: still a line of the file
        "5 0.5 0.5 0.2 0.2\n"  # beyond the names: counted, so the histogram shows it
        "1 1.5 0.5 0.2 0.2\n"  # bad coordinates: counted
        "1 0.5 0.5 0.2\n"  # wrong number of values: not an object
        "car 0.5 0.5 0.2 0.2\n"  # no class id
    )
    assert check_label_data(text.encode(), 3).class_ids == (0, 0, 5, 1)


def test_details_name_the_line_and_the_fix() -> None:
    (finding,) = check_label_data(
        b"0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n", 3, rel="l/a.txt"
    ).findings
    assert finding.path == "l/a.txt"
    assert finding.detail == (
        "line 2: class 7 is beyond the set's 3 class names (ids 0-2): add the name or fix the label"
    )


def test_a_file_that_is_not_text_is_unreadable() -> None:
    result = check_label_data(b"\xff\xd8\xff\xe0 JFIF", 3, rel="a.txt")
    assert [finding.kind for finding in result.findings] == [K.LABEL_UNREADABLE]
    assert result.class_ids == ()


def test_check_label_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("0 0.5 0.5 0.2 0.2\n1 nan 0.5 0.2 0.2\n", encoding="utf-8")
    result = check_label(path, 2, rel="set/a.txt")
    assert result.path == "set/a.txt"
    assert result.class_ids == (0,), "a line with NaN is no object"
    assert [(finding.kind, finding.line) for finding in result.findings] == [
        (K.LABEL_NOT_FINITE, 2)
    ]
    missing = check_label(tmp_path / "gone.txt", 2)
    assert [finding.kind for finding in missing.findings] == [K.LABEL_UNREADABLE]


def test_an_object_with_no_area_says_why() -> None:
    details = [
        finding.detail
        for text in ("0 0.5 0.5 0 0.2\n", "1 0.1 0.1 0.1 0.1 0.5 0.9\n", "1 0 0 0.5 0.5 1 1\n")
        for finding in check_label_data(text.encode(), 3, rel="a.txt").findings
    ]
    assert details == [
        "line 1: the box is 0 wide and 0.2 high",
        "line 1: the polygon has 2 distinct point(s); it needs 3",
        "line 1: the polygon's points lie on one line",
    ]


def test_a_tiny_object_says_its_size_at_the_training_size() -> None:
    (tiny,) = check_label_data(b"0 0.5 0.5 0.0015 0.25\n", 3, rel="a.txt").findings
    assert tiny.detail == "line 1: at most 1.0 x 160.0 pixels at the training size of 640"


def test_more_objects_than_ultralytics_keeps_is_one_note_for_the_file() -> None:
    def crowd(count: int) -> str:
        return "".join(f"0 {0.1 + i / 1000:.4f} 0.5 0.01 0.01\n" for i in range(count))

    assert found(crowd(300)) == []
    (crowded,) = check_label_data(crowd(600).encode(), 3, rel="a.txt").findings
    assert (crowded.kind, crowded.line) == (K.LABEL_MANY_OBJECTS, None)
    assert crowded.detail == "600 objects: at least 300 can never all be found"
