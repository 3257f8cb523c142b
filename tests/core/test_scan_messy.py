"""The scan of the messy shared-drive folder matches what the generator planted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_scan import scan_to_end

from datayard.core.drive.inventory import FileKind, Inventory, ScanProblem, ScanProblemKind
from tests.fixtures.messy_tree import ClassCount, MessyTree, make_messy_tree
from tests.fixtures.privileges import unprivileged_prefix


@pytest.fixture
def messy(tmp_path: Path) -> Iterator[MessyTree]:
    tree = make_messy_tree(tmp_path / "share" / "Alice Martin")
    yield tree
    tree.restore_permissions()


def of_kind(inventory: Inventory, kind: FileKind) -> set[str]:
    return {entry.rel for entry in inventory.of_kind(kind)}


def test_files_junk_hidden_and_problems(messy: MessyTree) -> None:
    inventory = scan_to_end(messy.root)

    assert of_kind(inventory, FileKind.IMAGE) == messy.images
    assert of_kind(inventory, FileKind.LABEL) == messy.labels
    assert of_kind(inventory, FileKind.DATA_YAML) == messy.data_yamls
    assert inventory.junk_skipped == messy.junk_count
    assert inventory.hidden_skipped == len({rel.split("/")[0] for rel in messy.hidden})
    assert inventory.problems == [
        ScanProblem(
            messy.symlink_loop, ScanProblemKind.SYMLINK_LOOP, "link to a folder that contains it"
        )
    ]
    assert messy.long_path in messy.images and messy.unicode_paths <= messy.images
    if messy.heic:
        assert messy.heic in messy.images


def test_hidden_files_when_asked(messy: MessyTree) -> None:
    inventory = scan_to_end(messy.root, include_hidden=True)
    assert of_kind(inventory, FileKind.IMAGE) == messy.images | messy.hidden
    assert inventory.hidden_skipped == 0


def test_sets_pairs_splits_and_class_histograms(messy: MessyTree) -> None:
    inventory = scan_to_end(messy.root)
    class_ids = {entry.rel: entry.class_ids for entry in inventory.of_kind(FileKind.LABEL)}

    assert sorted(dataset.root for dataset in inventory.sets) == sorted(
        expected.root for expected in messy.sets
    )
    for expected in messy.sets:
        (dataset,) = [found for found in inventory.sets if found.root == expected.root]
        assert dataset.layout is expected.layout, expected.root
        assert {item.image: item.label for item in dataset.items} == expected.pairs
        assert {item.image: item.split for item in dataset.items} == expected.splits
        assert set(dataset.orphan_labels) == expected.orphan_labels
        assert dataset.class_names == expected.class_names
        assert dataset.data_yaml == expected.data_yaml
        instances: Counter[int] = Counter()
        images: Counter[int] = Counter()
        for item in dataset.items:
            ids = class_ids[item.label] if item.label else ()
            instances.update(ids or ())
            images.update(set(ids or ()))
        histogram = {key: ClassCount(instances[key], images[key]) for key in instances}
        assert histogram == expected.histogram, expected.root


def test_identical_images_have_identical_hashes(messy: MessyTree) -> None:
    by_hash: dict[str | None, set[str]] = {}
    for entry in scan_to_end(messy.root).of_kind(FileKind.IMAGE):
        by_hash.setdefault(entry.sha256, set()).add(entry.rel)
    assert None not in by_hash
    groups = {frozenset(paths) for paths in by_hash.values() if len(paths) > 1}
    # Empty files share the empty hash but are not planted as duplicates.
    assert {group for group in groups if messy.root.joinpath(next(iter(group))).stat().st_size} == (
        messy.duplicate_groups
    )


def test_an_ordinary_user_gets_the_locked_folder_as_a_problem() -> None:
    base = Path(tempfile.mkdtemp(prefix="datayard-messy-"))
    tree = make_messy_tree(base / "share")
    try:
        prefix = unprivileged_prefix(tree.root / tree.unreadable_folder)
        script = (
            "import json, sys; from pathlib import Path;"
            "from datayard.core.events import run_to_end;"
            "from datayard.core.drive.inventory import Inventory;"
            "from datayard.core.drive.scan import scan;"
            "inv = run_to_end(scan(Path(sys.argv[1]), database=None), Inventory);"
            "print(json.dumps({'images': [e.rel for e in inv.files if e.kind == 'image'],"
            " 'problems': [(p.rel, str(p.kind)) for p in inv.problems]}))"
        )
        done = subprocess.run(
            [*prefix, sys.executable, "-c", script, str(tree.root)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
    finally:
        tree.restore_permissions()
        shutil.rmtree(base)

    assert set(result["images"]) == tree.images - tree.unreadable_files
    assert sorted(map(tuple, result["problems"])) == sorted(
        [
            (tree.unreadable_folder, str(ScanProblemKind.UNREADABLE_FOLDER)),
            (tree.symlink_loop, str(ScanProblemKind.SYMLINK_LOOP)),
        ]
    )
