"""How predictions are counted against labels, and which files are predicted on."""

from __future__ import annotations

from pathlib import Path

import pytest

from datayard.core.drive.labels import LabelObject
from datayard.core.errors import UsageError
from datayard.core.training.predict import (
    Detection,
    Matched,
    Truth,
    chosen_images,
    images_under,
    iou,
    match,
)

NONE = Matched(frozenset(), frozenset())


def hits(detections: set[int], objects: set[int]) -> Matched:
    return Matched(frozenset(detections), frozenset(objects))


CAT = LabelObject(line=1, class_id=0, values=(0.5, 0.5, 0.2, 0.2))
DOG = LabelObject(line=2, class_id=1, values=(0.2, 0.2, 0.1, 0.1))


def test_iou_of_centre_size_boxes() -> None:
    assert iou((0.5, 0.5, 0.2, 0.2), (0.5, 0.5, 0.2, 0.2)) == pytest.approx(1)
    assert iou((0.2, 0.2, 0.1, 0.1), (0.8, 0.8, 0.1, 0.1)) == 0
    assert iou((0.5, 0.5, 0.2, 0.2), (0.6, 0.5, 0.2, 0.2)) == pytest.approx(1 / 3)


def test_each_object_is_found_once_by_a_detection_of_its_class_that_overlaps_enough() -> None:
    twice = [Detection(0, (0.5, 0.5, 0.2, 0.2), 0.9), Detection(0, (0.51, 0.5, 0.2, 0.2), 0.8)]
    assert match(twice, [CAT]) == hits({0}, {0})  # the second is a false detection
    assert match(list(reversed(twice)), [CAT]) == hits({1}, {0})  # the surest one finds it
    assert match([Detection(1, (0.5, 0.5, 0.2, 0.2), 0.9)], [CAT]) == NONE  # another class
    assert match([Detection(0, (0.6, 0.6, 0.2, 0.2), 0.9)], [CAT]) == NONE  # IoU 0.14
    both = [Detection(1, (0.2, 0.2, 0.1, 0.1), 0.5), Detection(0, (0.5, 0.5, 0.2, 0.2), 0.7)]
    assert match(both, [CAT, DOG]) == hits({0, 1}, {0, 1})
    assert match(both[1:], [DOG, CAT]) == hits({0}, {1})  # the dog is missed
    square = LabelObject(3, 0, (0.4, 0.4, 0.6, 0.4, 0.6, 0.6, 0.4, 0.6))  # a polygon
    assert match([Detection(0, (0.5, 0.5, 0.2, 0.2), 0.9)], [square]) == hits({0}, {0})
    assert match(both, [Truth(1, (0.2, 0.2, 0.1, 0.1))]) == hits({0}, {0})  # as listed


def test_the_images_of_a_folder_are_found_through_it_hidden_ones_left_out(tmp_path: Path) -> None:
    for name in ("b/2.jpg", "a/1.png", "a/notes.txt", ".cache/x.jpg", "a/.y.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert images_under(tmp_path) == [tmp_path / "a/1.png", tmp_path / "b/2.jpg"]
    assert images_under(tmp_path / "b/2.jpg") == [tmp_path / "b/2.jpg"]
    with pytest.raises(UsageError, match="is not an image"):
        images_under(tmp_path / "a/notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        images_under(tmp_path / "empty")
    with pytest.raises(UsageError, match="is neither a folder nor an image"):
        images_under(tmp_path / "gone")


def test_a_selection_of_files_and_folders_is_shown_under_the_folder_that_holds_them_all(
    tmp_path: Path,
) -> None:
    for name in ("set/a/1.jpg", "set/a/2.jpg", "set/b/3.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    a, b = tmp_path / "set/a", tmp_path / "set/b"
    assert chosen_images([a]) == (a, [a / "1.jpg", a / "2.jpg"])
    assert chosen_images([a / "2.jpg"]) == (a, [a / "2.jpg"])
    assert chosen_images([b / "3.jpg", a, a / "1.jpg"]) == (
        tmp_path / "set",
        [b / "3.jpg", a / "1.jpg", a / "2.jpg"],
    )
    with pytest.raises(UsageError, match="no images chosen"):
        chosen_images([])
