"""The inspection of a selection: counts, badges, histogram and problems of the messy tree."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from datayard.core.drive.check import Severity
from datayard.core.drive.inspection import FolderChecked, Inspection, image_size, inspect
from datayard.core.events import Finished
from tests.fixtures.messy_tree import MessyTree


def run(paths: list[Path], **options: object) -> tuple[Inspection, list[FolderChecked]]:
    checked: list[FolderChecked] = []
    for event in inspect(paths, **options):  # type: ignore[arg-type]
        if isinstance(event, FolderChecked):
            checked.append(event)
        elif isinstance(event, Finished):
            return event.result, checked
    raise AssertionError("no result")


def test_the_whole_tree_has_every_image_and_every_planted_problem(messy_tree: MessyTree) -> None:
    inspection, checked = run([messy_tree.root])
    root = messy_tree.root
    assert {image.path for image in inspection.images} == {root / rel for rel in messy_tree.images}
    found = Counter(
        (group.kind.value, row.path)
        for group in inspection.problems
        for row in group.rows
        if not row.related
    )
    assert found == Counter((f.kind, root / f.path) for f in messy_tree.findings)
    # Rows under a finding name the file each stands for: here the train image that the
    # val image leaks, and the phone photo whose bytes another set holds.
    related = {
        (group.kind.value, row.path.relative_to(root).as_posix(), row.detail)
        for group in inspection.problems
        for row in group.rows
        if row.related
    }
    assert related == {
        (
            "leaky_splits",
            "road_signs/images/val/sign_102.jpg",
            "its copy: road_signs/images/train/sign_006.jpg",
        ),
        ("shared_with_set", "phone_dump/IMG_0009.jpg", "also Über Straße/çamión 02.jpg"),
    }
    expected = Counter(finding.severity for finding in messy_tree.findings)
    assert {str(k): v for k, v in inspection.counts.items()} == dict(expected)
    assert [c.summary.folder for c in checked] == [root]
    # Errors first, as the check sorts them.
    assert inspection.problems[0].severity is Severity.ERROR
    assert inspection.problems[-1].severity is Severity.INFO


def test_badges_of_a_set_folder(messy_tree: MessyTree) -> None:
    expected = messy_tree.set_at("road_signs")
    _, (checked,) = run([messy_tree.root / "road_signs"], measure=False)
    summary = checked.summary
    assert summary.images == len(expected.pairs)
    assert summary.labelled == sum(label is not None for label in expected.pairs.values())
    assert summary.layouts == (str(expected.layout),)
    in_set = [f for f in messy_tree.findings if f.path.startswith("road_signs/")]
    assert summary.counts[Severity.ERROR] == sum(f.severity == "error" for f in in_set)
    assert summary.mtime_ns == (messy_tree.root / "road_signs").stat().st_mtime_ns
    texts = [badge.text for badge in summary.badges]
    assert texts[:3] == ["11 images", "91% labelled", "data.yaml"]
    assert f"{summary.counts[Severity.ERROR]} errors" in texts


def test_histogram_uses_the_class_names(messy_tree: MessyTree) -> None:
    expected = messy_tree.set_at("road_signs")
    inspection, _ = run([messy_tree.root / "road_signs"])
    names = expected.class_names
    want = {
        (names[i] if i < len(names) else str(i)): (count.instances, count.images)
        for i, count in expected.histogram.items()
    }
    assert {c.name: (c.objects, c.images) for c in inspection.classes} == want
    assert len(inspection.sizes) == len(expected.pairs)
    assert (64, 48) in inspection.sizes


def test_selected_files_are_inspected_within_their_set(messy_tree: MessyTree) -> None:
    image = messy_tree.root / "road_signs/images/train/sign_002.jpg"
    inspection, checked = run([image])
    assert checked == []  # a file selection says nothing about a whole folder
    assert [i.path for i in inspection.images] == [image]
    (shown,) = inspection.images
    assert shown.label == messy_tree.root / "road_signs/labels/train/sign_002.txt"
    assert shown.class_names == ("stop", "yield", "speed_limit", "pedestrian")
    kinds = {group.kind.value for group in inspection.problems}
    assert kinds == {"label_class_beyond_names"}
    assert {c.name for c in inspection.classes} == {"stop", "7"}


def test_broken_image_sizes_are_left_out(messy_tree: MessyTree) -> None:
    assert image_size(messy_tree.root / "phone_dump/IMG_0005.jpg") is None
    assert image_size(messy_tree.root / "phone_dump/notes.png") is None
    assert image_size(messy_tree.root / "phone_dump/scan_huge.png") is None
    assert image_size(messy_tree.root / "phone_dump/panorama.png") == (1000, 5)


def test_each_image_carries_its_split_classes_and_worst_finding(messy_tree: MessyTree) -> None:
    inspection, _ = run([messy_tree.root / "road_signs"], measure=False)
    by_name = {image.path.name: image for image in inspection.images}
    assert (by_name["sign_000.jpg"].split, by_name["sign_000.jpg"].class_ids) == ("train", (0, 1))
    assert by_name["sign_100.jpg"].split == "val"
    assert by_name["sign_000.jpg"].severity is None
    assert by_name["sign_002.jpg"].severity is Severity.ERROR  # its label: class 7 has no name
    assert by_name["sign_101.jpg"].severity is Severity.WARNING  # a PNG named .jpg
    assert by_name["sign_102.jpg"].severity is Severity.WARNING  # a copy of sign_006
    assert by_name["sign_102.jpg"].has_problems
    background = by_name["background_01.jpg"]
    assert (background.label, background.class_ids, background.severity) == (
        None,
        (),
        Severity.INFO,
    )
    assert not background.has_problems  # a note
    assert inspection.with_problems == sum(image.has_problems for image in by_name.values())
