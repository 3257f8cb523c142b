"""check() over hand-built inventories: set checks, events, cancellation, the report."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from datayard.core.drive.check import CheckReport, FindingKind, Severity, check
from datayard.core.drive.check import run as run_module
from datayard.core.drive.inventory import (
    DatasetSet,
    FileEntry,
    FileKind,
    Inventory,
    LayoutKind,
    ScanProblem,
    ScanProblemKind,
    SetItem,
)
from datayard.core.drive.scan import scan
from datayard.core.events import Cancelled, CancelToken, Finished, Progress, run_to_end
from tests.fixtures.messy_tree import exif_rotated_jpeg, jpeg, png

K = FindingKind
BOX = b"0 0.5 0.5 0.2 0.2\n"


def entry(root: Path, rel: str, data: bytes, sha256: str | None = None) -> FileEntry:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    kind = FileKind.LABEL if rel.endswith(".txt") else FileKind.IMAGE
    if rel.endswith(".yaml"):
        kind = FileKind.DATA_YAML
    return FileEntry(rel, len(data), path.stat().st_mtime_ns, kind, sha256)


def run(inventory: Inventory) -> CheckReport:
    return run_to_end(check(inventory), CheckReport)


def found(report: CheckReport) -> set[tuple[str, str]]:
    return {(finding.kind.value, finding.path) for finding in report.findings}


def yaml_set(
    root: Path,
    yaml: bytes,
    pairs: dict[str, bytes | None],
    pictures: dict[str, bytes] | None = None,
) -> Inventory:
    """A data.yaml set: image -> label content (``None``: no label); ``pictures``: the
    bytes of some images (the others are plain JPEGs)."""
    files = [entry(root, "ds/data.yaml", yaml)]
    items = []
    for index, (image, label) in enumerate(pairs.items()):
        split = image.split("/")[2]
        files.append(entry(root, image, (pictures or {}).get(image) or jpeg(index)))
        label_rel = None
        if label is not None:
            label_rel = image.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"
            files.append(entry(root, label_rel, label))
        items.append(SetItem(image, label_rel, split))
    dataset = DatasetSet(
        root="ds",
        layout=LayoutKind.DATA_YAML,
        items=tuple(items),
        class_names=("cat", "dog", "bird"),
        data_yaml="ds/data.yaml",
    )
    return Inventory(root=root, files=files, sets=[dataset])


GOOD_YAML = b"train: images/train\nval: images/val\nnames: [cat, dog, bird]\n"


def test_a_clean_set_is_trainable_with_its_histogram(tmp_path: Path) -> None:
    inventory = yaml_set(
        tmp_path,
        GOOD_YAML,
        {
            "ds/images/train/a.jpg": b"0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n",
            "ds/images/train/b.jpg": b"0 0.5 0.5 0.2 0.2\n0 0.2 0.2 0.1 0.1\n",
            "ds/images/val/c.jpg": b"2 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.4 0.4\n",
        },
    )
    report = run(inventory)
    assert report.findings == ()
    assert report.trainable
    (summary,) = report.sets
    assert (summary.images, summary.labelled_images, summary.splits) == (
        3,
        3,
        {"train": 2, "val": 1},
    )
    assert [(c.class_id, c.name, c.instances, c.images) for c in summary.classes] == [
        (0, "cat", 3, 2),
        (1, "dog", 2, 2),
        (2, "bird", 1, 1),
    ]


def test_set_problems(tmp_path: Path) -> None:
    yaml = b"train: images/train\nval: images/val\ntest: images/test\nnames: [cat, dog, bird]\n"
    inventory = yaml_set(
        tmp_path,
        yaml,
        {
            "ds/images/train/a.jpg": BOX,
            "ds/images/train/b.jpg": b"5 0.5 0.5 0.2 0.2\n",
            "ds/images/train/background.jpg": None,
            "ds/images/val/c.jpg": BOX,
        },
    )
    (tmp_path / "ds/images/val/c.jpg").write_bytes(
        (tmp_path / "ds/images/train/a.jpg").read_bytes()
    )
    inventory.sets[0] = replace(inventory.sets[0], orphan_labels=("ds/labels/train/gone.txt",))
    report = run(inventory)
    assert found(report) == {
        ("label_class_beyond_names", "ds/labels/train/b.txt"),
        ("data_yaml_missing_split", "ds/data.yaml"),
        ("data_yaml_too_few_names", "ds/data.yaml"),
        ("orphan_label", "ds/labels/train/gone.txt"),
        ("leaky_splits", "ds/data.yaml"),
        ("unlabelled_image", "ds/images/train/background.jpg"),
        ("unused_class", "ds/data.yaml"),
    }
    (leak,) = report.of_kind(K.LEAKY_SPLITS)
    assert leak.pairs == (("ds/images/val/c.jpg", "ds/images/train/a.jpg"),)
    assert leak.detail == (
        "1 image of val has a copy in train (1 with the same bytes): "
        "their scores will look better than they are"
    )
    (too_few,) = report.of_kind(K.DATA_YAML_TOO_FEW_NAMES)
    assert too_few.detail == "names 3 classes (ids 0-2) but labels use class id 5"
    assert [finding.detail for finding in report.of_kind(K.UNUSED_CLASS)] == [
        "class 1 'dog' has no object in the labels",
        "class 2 'bird' has no object in the labels",
    ]
    assert not report.trainable


def test_a_set_without_any_label_is_one_warning(tmp_path: Path) -> None:
    inventory = yaml_set(tmp_path, GOOD_YAML, {f"ds/images/train/{n}.jpg": None for n in "abc"})
    (tmp_path / "ds/images/val").mkdir(parents=True)
    report = run(inventory)
    assert found(report) == {("no_labelled_images", "ds")}
    assert report.trainable


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        (b"train: [a\n", "cannot be read as YAML"),
        (b"- just a list\n", "is not a mapping"),
        (b"train: images/train\nnames: [cat, dog, bird]\n", "has no 'val' key"),
        (b"train: images/train\nval: images/train\n", "neither 'names' nor 'nc'"),
        (b"train: images/train\nval: images/train\nnc: 2\nnames: [cat, dog, bird]\n", "'nc' is 2"),
    ],
)
def test_an_invalid_data_yaml_says_why(tmp_path: Path, yaml: bytes, problem: str) -> None:
    report = run(yaml_set(tmp_path, yaml, {"ds/images/train/a.jpg": b"0 0.5 0.5 0.2 0.2\n"}))
    (invalid,) = report.of_kind(K.DATA_YAML_INVALID)
    assert problem in invalid.detail


@pytest.mark.parametrize(
    "yaml",
    [
        # Roboflow exports point one folder too high; Ultralytics tries again without "../".
        b"train: ../images/train\nval: ../images/train\nnames: [a, b, c]\n",
        # A path on the author's machine: the splits are read next to the data.yaml.
        b"path: /mnt/authors-laptop/ds\ntrain: images/train\nval: images/train\nnames: [a, b, c]\n",
        b"path: .\ntrain: [images/train]\nvalidation: images/train\nnames: {0: a, 1: b, 2: c}\n",
    ],
)
def test_splits_resolve_as_ultralytics_resolves_them(tmp_path: Path, yaml: bytes) -> None:
    report = run(yaml_set(tmp_path, yaml, {"ds/images/train/a.jpg": b"0 0.5 0.5 0.2 0.2\n"}))
    assert not report.of_kind(K.DATA_YAML_MISSING_SPLIT)
    assert not report.of_kind(K.DATA_YAML_INVALID)


def test_a_relative_path_key_is_not_second_guessed(tmp_path: Path) -> None:
    yaml = b"path: elsewhere\ntrain: images/train\nval: images/train\nnames: [a, b, c]\n"
    report = run(yaml_set(tmp_path, yaml, {"ds/images/train/a.jpg": BOX}))
    assert [finding.detail for finding in report.of_kind(K.DATA_YAML_MISSING_SPLIT)] == [
        "train: images/train does not exist",
        "val: images/train does not exist",
    ]


def test_the_scans_hashes_are_trusted_and_missing_ones_computed(tmp_path: Path) -> None:
    same = "0" * 64
    files = [
        entry(tmp_path, "f/a.jpg", jpeg(1), sha256=same),
        entry(tmp_path, "f/b.jpg", jpeg(2), sha256=same),
        entry(tmp_path, "f/c.png", png(3)),
        entry(tmp_path, "f/d.png", png(3)),
        entry(tmp_path, "f/e.jpg", b""),
        entry(tmp_path, "f/f.jpg", b""),
    ]
    items = tuple(SetItem(file.rel, None, "") for file in files)
    dataset = DatasetSet(root="f", layout=LayoutKind.IMAGES_ONLY, items=items)
    report = run(Inventory(root=tmp_path, files=files, sets=[dataset]))
    assert {(f.path, f.related) for f in report.of_kind(K.DUPLICATE_IMAGES)} == {
        ("f/a.jpg", ("f/b.jpg",)),
        ("f/c.png", ("f/d.png",)),
    }
    assert hashlib.sha256(png(3)).hexdigest() != same


def test_scan_problems_are_part_of_the_report(tmp_path: Path) -> None:
    problems = [
        ScanProblem("locked", ScanProblemKind.UNREADABLE_FOLDER, "permission denied"),
        ScanProblem("a/up", ScanProblemKind.SYMLINK_LOOP, "link to a folder that contains it"),
        ScanProblem("a/gone", ScanProblemKind.BROKEN_SYMLINK, "points at nothing"),
    ]
    report = run(Inventory(root=tmp_path, problems=problems))
    assert {(f.kind, f.severity, f.path) for f in report.findings} == {
        (K.UNREADABLE_FOLDER, Severity.WARNING, "locked"),
        (K.SYMLINK_LOOP, Severity.INFO, "a/up"),
        (K.BROKEN_SYMLINK, Severity.WARNING, "a/gone"),
    }
    assert report.trainable


def test_loose_images_are_checked_and_loose_text_files_are_not(tmp_path: Path) -> None:
    files = [entry(tmp_path, "loose/empty.jpg", b""), entry(tmp_path, "loose/notes.txt", b"hi")]
    report = run(Inventory(root=tmp_path, files=files))
    assert found(report) == {("empty_file", "loose/empty.jpg")}
    assert (report.images_checked, report.labels_checked) == (1, 0)


def many_labels(root: Path, count: int) -> Inventory:
    files = [entry(root, f"p/{index:03d}.jpg", jpeg(index)) for index in range(count)]
    files += [entry(root, f"p/{index:03d}.txt", BOX) for index in range(count)]
    items = tuple(SetItem(f"p/{i:03d}.jpg", f"p/{i:03d}.txt", "") for i in range(count))
    dataset = DatasetSet(root="p", layout=LayoutKind.FLAT_PAIRS, items=items)
    return Inventory(root=root, files=files, sets=[dataset])


def test_progress_counts_every_file_then_the_report_comes(tmp_path: Path) -> None:
    events = list(check(many_labels(tmp_path, 20), workers=3))
    progress = [event for event in events if isinstance(event, Progress)]
    assert {event.phase for event in progress} == {"checking"}
    done = [event.done for event in progress]
    assert done[0] == 0 and done[-1] == 40
    assert done == sorted(set(done))
    assert {event.total for event in progress} == {40}
    assert isinstance(events[-1], Finished)
    assert events[-1].result.images_checked == 20


def test_cancel_stops_between_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cancel = CancelToken()
    checked: list[str] = []
    check_file = run_module._check_file

    def cancelled_after_three(root: Path, job: object, *args: object) -> object:
        checked.append(str(job))
        if len(checked) == 3:
            cancel.set()  # as the user would, while the third file is checked
        return check_file(root, job, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(run_module, "_check_file", cancelled_after_three)
    with pytest.raises(Cancelled):
        for event in check(many_labels(tmp_path, 50), workers=2, cancel=cancel):
            assert isinstance(event, Progress), "the check finished despite the cancel"
    assert 3 <= len(checked) <= 4  # the other thread's file may end; none starts after


def test_a_cancel_before_the_start_does_nothing(tmp_path: Path) -> None:
    cancel = CancelToken()
    cancel.set()
    with pytest.raises(Cancelled):
        next(iter(check(many_labels(tmp_path, 2), cancel=cancel)))


def test_the_report_is_plain_json_grouped_by_kind(tmp_path: Path) -> None:
    files = [entry(tmp_path, f"x/{n}.jpg", b"") for n in "ab"]
    files.append(entry(tmp_path, "x/c.jpg", png(1)))
    data = run(Inventory(root=tmp_path, files=files)).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["trainable"] is False
    assert data["counts"] == {"error": 2, "warning": 1, "info": 0}
    assert [(g["kind"], g["severity"], g["paths"]) for g in data["groups"]] == [
        ("empty_file", "error", ["x/a.jpg", "x/b.jpg"]),
        ("wrong_extension", "warning", ["x/c.jpg"]),
    ]
    assert data["groups"][0]["hint"] == FindingKind.EMPTY_FILE.hint


def test_every_kind_has_a_severity_a_heading_and_a_hint() -> None:
    for kind in FindingKind:
        assert kind.severity in Severity
        assert kind.heading and kind.hint.endswith(".")


def scanned_yaml_set(root: Path, yaml: bytes, images: dict[str, int]) -> Inventory:
    """A data.yaml set on disk, scanned: image path -> the class id of its one box."""
    (root / "ds").mkdir(parents=True)
    (root / "ds/data.yaml").write_bytes(yaml)
    for index, (image, class_id) in enumerate(images.items()):
        path = root / "ds" / image
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg(index))
        label = root / "ds" / image.replace("images/", "labels/").replace(".jpg", ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_bytes(f"{class_id} 0.5 0.5 0.2 0.2\n".encode())
    return run_to_end(scan(root, database=None), Inventory)  # type: ignore[arg-type]


def test_val_naming_the_train_folder_is_one_finding_and_nothing_counts_twice(
    tmp_path: Path,
) -> None:
    yaml = b"train: images/train\nval: images/train\nnames: [cat, dog]\n"
    inventory = scanned_yaml_set(
        tmp_path, yaml, {"images/train/a.jpg": 0, "images/train/b.jpg": 1, "images/train/c.jpg": 1}
    )
    report = run(inventory)

    (dataset,) = inventory.sets
    assert sorted(item.image for item in dataset.items) == [
        "ds/images/train/a.jpg",
        "ds/images/train/b.jpg",
        "ds/images/train/c.jpg",
    ]
    assert found(report) == {("splits_share_images", "ds/data.yaml")}
    (shared,) = report.findings
    assert shared.detail == "val is the same folder as train: validation scores will be meaningless"
    assert shared.severity is Severity.WARNING and report.trainable
    (summary,) = report.sets
    assert (summary.images, summary.labelled_images, summary.splits) == (3, 3, {"train": 3})
    assert [(c.name, c.instances, c.images) for c in summary.classes] == [
        ("cat", 1, 1),
        ("dog", 2, 2),
    ]
    assert report.images_checked == 3 and report.labels_checked == 3


def test_splits_that_share_some_images_say_how_many(tmp_path: Path) -> None:
    yaml = b"train: images/train\nval: [images/val, images/train/old]\nnames: [cat]\n"
    inventory = scanned_yaml_set(
        tmp_path,
        yaml,
        {"images/train/a.jpg": 0, "images/train/old/b.jpg": 0, "images/val/c.jpg": 0},
    )
    report = run(inventory)

    assert [finding.detail for finding in report.of_kind(K.SPLITS_SHARE_IMAGES)] == [
        "1 image of val is also in train (held there only): validation scores will look "
        "better than they are"
    ]
    (summary,) = report.sets
    assert summary.splits == {"train": 2, "val": 1}


def test_a_class_ten_times_rarer_than_another_is_a_note_with_the_ratio(tmp_path: Path) -> None:
    many_cars = b"".join(b"0 0.%d5 0.5 0.05 0.05\n" % i for i in range(9)) + b"2 0.5 0.5 0.2 0.2\n"
    pairs = {f"ds/images/train/{n}.jpg": many_cars for n in "abcd"}
    pairs["ds/images/train/e.jpg"] = BOX + b"1 0.3 0.3 0.2 0.2\n"  # BOX is a cat
    (imbalance,) = run(yaml_set(tmp_path, GOOD_YAML, pairs)).of_kind(K.CLASS_IMBALANCE)
    assert (imbalance.path, imbalance.detail) == (
        "ds/data.yaml",
        "'cat' has 37 objects, 'dog' 1: 37 to 1",
    )
    pairs["ds/images/train/e.jpg"] = BOX + b"".join(b"1 0.3 0.%d 0.2 0.2\n" % i for i in range(4))
    assert not run(yaml_set(tmp_path / "even", GOOD_YAML, pairs)).of_kind(K.CLASS_IMBALANCE)


def test_a_label_beyond_its_image_turned_by_exif_says_why(tmp_path: Path) -> None:
    """Coordinates up to 4/3 on a photo the camera turned: measured in one frame and
    divided by the other. Said where the image is turned by 90 degrees only."""
    beyond = b"0 0.5 1.2 0.2 0.2\n"
    pairs = {
        "ds/images/train/phone.jpg": beyond,
        "ds/images/train/upside.jpg": beyond,
        "ds/images/train/plain.jpg": beyond,
        "ds/images/train/fine.jpg": BOX,
    }
    pictures = {
        "ds/images/train/phone.jpg": exif_rotated_jpeg(1, orientation=6),
        "ds/images/train/upside.jpg": exif_rotated_jpeg(2, orientation=3),
        "ds/images/train/fine.jpg": exif_rotated_jpeg(3, orientation=8),
    }
    report = run(yaml_set(tmp_path, GOOD_YAML, pairs, pictures))

    (finding,) = report.of_kind(K.LABEL_FOR_UNTURNED_IMAGE)
    assert (finding.path, finding.related) == (
        "ds/labels/train/phone.txt",
        ("ds/images/train/phone.jpg",),
    )
    assert finding.detail == "its image phone.jpg is turned by its EXIF orientation"
    assert len(report.of_kind(K.LABEL_COORDINATES)) == 3, "the error itself stays, for each"
