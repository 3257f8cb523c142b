"""The same photo in two sets: a note (stored once), a warning when labelled differently."""

from __future__ import annotations

from pathlib import Path

from datayard.core.drive.check import CheckReport, FindingKind, check
from datayard.core.drive.inventory import Inventory
from datayard.core.drive.scan import scan
from datayard.core.events import run_to_end
from tests.fixtures.messy_tree import jpeg

CAR = b"0 0.5 0.5 0.2 0.2\n"
BIKE = b"1 0.4 0.4 0.1 0.3\n"


def write(root: Path, files: dict[str, tuple[int, bytes | None]]) -> None:
    """``name: (picture seed, label or None)`` as an images/labels tree under ``root``."""
    for name, (seed, label) in files.items():
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "images" / f"{name}.jpg").write_bytes(jpeg(seed))
        if label is not None:
            (root / "labels" / f"{name}.txt").write_bytes(label)


def checked(root: Path) -> CheckReport:
    database = root / "state.sqlite"
    inventory = run_to_end(scan(root / "drive", database=database), Inventory)
    return run_to_end(check(inventory, database=database), CheckReport)


def test_shared_images_are_a_note_and_differing_labels_a_warning(tmp_path: Path) -> None:
    write(
        tmp_path / "drive/alice/cars",
        {
            "same_label": (1, CAR),
            "other_label": (2, CAR),
            "labelled_here_only": (3, CAR),
            "alice_only": (4, CAR),
        },
    )
    write(
        tmp_path / "drive/bob/cars",
        {
            "copy_same": (1, CAR),
            "copy_other": (2, BIKE),
            "copy_background": (3, None),
            "bob_only": (5, CAR),
        },
    )
    write(tmp_path / "drive/carol/street", {"street": (6, CAR), "also_bobs": (5, CAR)})
    report = checked(tmp_path)

    shared = {(f.path, f.detail): f.pairs for f in report.of_kind(FindingKind.SHARED_WITH_SET)}
    assert shared == {
        ("alice/cars", "3 images are also in bob/cars (stored once)"): (
            ("alice/cars/images/labelled_here_only.jpg", "bob/cars/images/copy_background.jpg"),
            ("alice/cars/images/other_label.jpg", "bob/cars/images/copy_other.jpg"),
            ("alice/cars/images/same_label.jpg", "bob/cars/images/copy_same.jpg"),
        ),
        ("bob/cars", "1 image is also in carol/street (stored once)"): (
            ("bob/cars/images/bob_only.jpg", "carol/street/images/also_bobs.jpg"),
        ),
    }
    (differ,) = report.of_kind(FindingKind.LABELS_DIFFER_ACROSS_SETS)
    assert (differ.path, differ.detail) == (
        "alice/cars",
        "2 of them are labelled differently in bob/cars",
    )
    assert differ.pairs == (
        ("alice/cars/images/labelled_here_only.jpg", "bob/cars/images/copy_background.jpg"),
        ("alice/cars/images/other_label.jpg", "bob/cars/images/copy_other.jpg"),
    )
    # Within each set every image is unique: no set reports a copy of its own.
    assert not report.of_kind(FindingKind.DUPLICATE_IMAGES)
    assert not report.of_kind(FindingKind.LEAKY_SPLITS)
