"""How predictions are counted against labels, and which files are predicted on."""

from __future__ import annotations

from pathlib import Path

import pytest

from datayard.core.drive.labels import LabelObject
from datayard.core.errors import UsageError
from datayard.core.training.predict import Detection, images_under, iou, matches

CAT = LabelObject(line=1, class_id=0, values=(0.5, 0.5, 0.2, 0.2))
DOG = LabelObject(line=2, class_id=1, values=(0.2, 0.2, 0.1, 0.1))


def test_iou_of_centre_size_boxes() -> None:
    assert iou((0.5, 0.5, 0.2, 0.2), (0.5, 0.5, 0.2, 0.2)) == pytest.approx(1)
    assert iou((0.2, 0.2, 0.1, 0.1), (0.8, 0.8, 0.1, 0.1)) == 0
    assert iou((0.5, 0.5, 0.2, 0.2), (0.6, 0.5, 0.2, 0.2)) == pytest.approx(1 / 3)


def test_each_object_is_found_once_by_a_detection_of_its_class_that_overlaps_enough() -> None:
    twice = [Detection(0, (0.5, 0.5, 0.2, 0.2), 0.9), Detection(0, (0.51, 0.5, 0.2, 0.2), 0.8)]
    assert matches(twice, [CAT]) == 1  # the second is a false detection
    assert matches([Detection(1, (0.5, 0.5, 0.2, 0.2), 0.9)], [CAT]) == 0  # another class
    assert matches([Detection(0, (0.6, 0.6, 0.2, 0.2), 0.9)], [CAT]) == 0  # IoU 0.14
    both = [Detection(1, (0.2, 0.2, 0.1, 0.1), 0.5), Detection(0, (0.5, 0.5, 0.2, 0.2), 0.7)]
    assert matches(both, [CAT, DOG]) == 2
    square = LabelObject(3, 0, (0.4, 0.4, 0.6, 0.4, 0.6, 0.6, 0.4, 0.6))  # a polygon
    assert matches([Detection(0, (0.5, 0.5, 0.2, 0.2), 0.9)], [square]) == 1


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
