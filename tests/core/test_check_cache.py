"""The check's cache: unchanged content is not read again, and the report stays the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from datayard.core.database import connect
from datayard.core.drive.check import CheckReport, FindingKind, check
from datayard.core.drive.check.cache import SCHEMA, CheckCache
from datayard.core.drive.inventory import Inventory
from datayard.core.drive.scan import scan
from datayard.core.events import run_to_end
from tests.fixtures.messy_tree import MessyTree, make_clean_set


def checked(root: Path, database: Path | None, deep: bool = False) -> CheckReport:
    inventory = run_to_end(scan(root, database=database), Inventory)
    return run_to_end(check(inventory, deep=deep, workers=4, database=database), CheckReport)


def same(report: CheckReport) -> dict[str, object]:
    """What a user reads of a report: everything but where its findings came from."""
    found = report.to_json()
    del found["from_cache"]
    return found


def test_a_second_check_reads_nothing_again_and_finds_exactly_what_the_first_found(
    messy_tree: MessyTree, tmp_path: Path
) -> None:
    database = tmp_path / "state.sqlite"
    first = checked(messy_tree.root, database)
    second = checked(messy_tree.root, database)
    assert first.from_cache == 0
    files = second.images_checked + second.labels_checked
    assert 0 < second.from_cache <= files
    assert same(second) == same(first) == same(checked(messy_tree.root, None))
    deep = checked(messy_tree.root, database, deep=True)  # another question for the images
    assert deep.from_cache == deep.labels_checked and same(deep)["deep"] is True


def test_a_changed_file_is_checked_again_and_the_same_content_elsewhere_is_not(
    tmp_path: Path,
) -> None:
    database = tmp_path / "state.sqlite"
    pets = make_clean_set(tmp_path / "pets")
    first = checked(pets, database)
    assert first.trainable and first.from_cache == 0
    files = first.images_checked + first.labels_checked

    shutil.copytree(pets, tmp_path / "copy")  # another folder, the same contents
    assert checked(tmp_path / "copy", database).from_cache == files

    image = pets / "images/train/pet_00.jpg"
    image.write_bytes(b"\xff\xd8\xff" + b"not a jpeg" * 50)
    again = checked(pets, database)
    assert again.from_cache == files - 1
    assert [f.path for f in again.findings if f.kind is FindingKind.CORRUPT_IMAGE] == [
        "images/train/pet_00.jpg"
    ]

    # The same label with fewer class names is another question: read again.
    yaml = pets / "data.yaml"
    yaml.write_text(yaml.read_text().replace("names: [cat, dog]", "names: [cat]"))
    fewer = checked(pets, database)
    assert fewer.from_cache == first.images_checked  # the images only
    assert fewer.of_kind(FindingKind.LABEL_CLASS_BEYOND_NAMES)


def test_a_file_changed_between_scan_and_check_is_not_remembered(tmp_path: Path) -> None:
    database = tmp_path / "state.sqlite"
    pets = make_clean_set(tmp_path / "pets")
    inventory = run_to_end(scan(pets, database=database), Inventory)
    image = pets / "images/val/pet_04.jpg"
    original = image.read_bytes()
    image.write_bytes(b"\xff\xd8\xff" + b"garbage" * 80)  # after its hash was taken
    garbled = run_to_end(check(inventory, database=database), CheckReport)
    assert garbled.of_kind(FindingKind.CORRUPT_IMAGE)
    image.write_bytes(original)  # back to the content the scan hashed
    report = checked(pets, database)
    files = report.images_checked + report.labels_checked
    assert report.from_cache == files - 1  # not the garbage's findings under its hash
    assert report.trainable


def test_results_found_by_other_rules_are_forgotten(tmp_path: Path) -> None:
    database = tmp_path / "state.sqlite"
    pets = make_clean_set(tmp_path / "pets")
    checked(pets, database)
    with CheckCache(database):
        pass
    connection = connect(database, SCHEMA)
    with connection:
        connection.execute("UPDATE check_cache_rules SET version = ?", (json.dumps([0, 0]),))
    connection.close()
    assert checked(pets, database).from_cache == 0
