"""Which dataset sets a scan recognises, layout by layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest_scan import label, only_set, scan_to_end, touch

from datayard.core.drive.inventory import FileKind, LayoutKind, SetItem, SharedSplit
from datayard.core.drive.scan import label_for, summarize


def test_label_for_follows_ultralytics_rule() -> None:
    assert label_for("ds/images/train/a.jpg") == "ds/labels/train/a.txt"
    assert label_for("images/a.b.png") == "labels/a.b.txt"
    # Only the last /images/ is replaced; no images/ folder means beside the image.
    assert label_for("images/x/images/a.jpg") == "images/x/labels/a.txt"
    assert label_for("flat/a.jpg") == "flat/a.txt"


def test_data_yaml_with_relative_path_and_validation_key(tmp_path: Path) -> None:
    touch(tmp_path, "coco/images/train/a.jpg", "coco/images/train/b.png", "coco/images/val/c.jpg")
    label(tmp_path, "coco/labels/train/a.txt", 0, 1)
    label(tmp_path, "coco/labels/val/c.txt", 1)
    label(tmp_path, "coco/labels/val/gone.txt", 0)
    touch(
        tmp_path,
        "coco/cfg/data.yaml",
        content=b"path: ..\ntrain: images/train\nvalidation: images/val\nnames: {0: cat, 1: dog}\n",
    )

    inventory = scan_to_end(tmp_path)

    dataset = only_set(inventory, "coco/cfg")
    assert dataset.layout is LayoutKind.DATA_YAML
    assert dataset.data_yaml == "coco/cfg/data.yaml"
    assert dataset.class_names == ("cat", "dog")
    assert set(dataset.items) == {
        SetItem("coco/images/train/a.jpg", "coco/labels/train/a.txt", "train"),
        SetItem("coco/images/train/b.png", None, "train"),
        SetItem("coco/images/val/c.jpg", "coco/labels/val/c.txt", "val"),
    }
    assert dataset.orphan_labels == ("coco/labels/val/gone.txt",)
    assert len(inventory.sets) == 1, "images named by a data.yaml belong to no other set"
    kinds = {entry.rel: entry.kind for entry in inventory.files}
    assert kinds["coco/cfg/data.yaml"] is FileKind.DATA_YAML


def test_data_yaml_with_absolute_path(tmp_path: Path) -> None:
    touch(tmp_path, "elsewhere/pics/a.jpg", "elsewhere/pics/b.jpg")
    yaml = f"path: {tmp_path / 'elsewhere'}\ntrain: pics\nval: pics\nnames: [a]\n"
    touch(tmp_path, "yamls/data.yaml", content=yaml.encode())

    dataset = only_set(scan_to_end(tmp_path), "yamls")

    assert sorted((item.image, item.split) for item in dataset.items) == [
        ("elsewhere/pics/a.jpg", "train"),
        ("elsewhere/pics/b.jpg", "train"),
    ]
    assert dataset.shared == (SharedSplit(split="val", first="train", images=2, whole=True),)


def test_data_yaml_absolute_path_of_another_machine_reads_the_yaml_folder(tmp_path: Path) -> None:
    touch(tmp_path, "ds/images/train/a.jpg")
    yaml = b"path: /mnt/authors-laptop/datasets/ds\ntrain: images/train\nnames: [a]\n"
    touch(tmp_path, "ds/data.yml", content=yaml)

    dataset = only_set(scan_to_end(tmp_path), "ds")

    assert [item.image for item in dataset.items] == ["ds/images/train/a.jpg"]


def test_data_yaml_split_as_a_list_file(tmp_path: Path) -> None:
    touch(tmp_path, "ds/obj/a.jpg", "ds/obj/b.jpg", "ds/obj/c.jpg")
    label(tmp_path, "ds/obj/a.txt", 0)
    touch(tmp_path, "ds/train.txt", content=b"./obj/a.jpg\nobj/b.jpg\n\n")
    touch(tmp_path, "ds/data.yaml", content=b"train: train.txt\nval: obj\nnames: [x]\n")

    dataset = only_set(scan_to_end(tmp_path), "ds")

    assert sorted((item.image, item.label, item.split) for item in dataset.items) == [
        ("ds/obj/a.jpg", "ds/obj/a.txt", "train"),
        ("ds/obj/b.jpg", None, "train"),
        ("ds/obj/c.jpg", None, "val"),
    ]
    assert dataset.shared == (SharedSplit(split="val", first="train", images=2, whole=False),)
    assert dataset.orphan_labels == (), "the list file is not a label"


def test_yaml_that_is_not_a_dataset_stays_other(tmp_path: Path) -> None:
    touch(tmp_path, "cfg/hyp.yaml", content=b"lr0: 0.01\nnames: [a]\n")
    touch(tmp_path, "cfg/broken.yaml", content=b"train: [unclosed\n")
    inventory = scan_to_end(tmp_path)
    assert {entry.kind for entry in inventory.files} == {FileKind.OTHER}
    assert inventory.sets == []


def test_images_labels_tree_with_splits(tmp_path: Path) -> None:
    touch(tmp_path, "set/images/train/a.jpg", "set/images/val/b.jpg", "set/images/test/c.jpg")
    label(tmp_path, "set/labels/train/a.txt", 0)
    label(tmp_path, "set/labels/val/b.txt", 1)
    label(tmp_path, "set/labels/test/zz.txt", 1)
    touch(tmp_path, "set/classes.txt", content=b"person\ncar\n")

    dataset = only_set(scan_to_end(tmp_path), "set")

    assert dataset.layout is LayoutKind.SPLIT_TREE
    assert dataset.items == (
        SetItem("set/images/test/c.jpg", None, "test"),
        SetItem("set/images/train/a.jpg", "set/labels/train/a.txt", "train"),
        SetItem("set/images/val/b.jpg", "set/labels/val/b.txt", "val"),
    )
    assert dataset.orphan_labels == ("set/labels/test/zz.txt",)
    assert dataset.class_names == ("person", "car")


def test_roboflow_tree_reads_valid_as_val(tmp_path: Path) -> None:
    touch(tmp_path, "rf/train/images/a.jpg", "rf/valid/images/b.jpg")
    label(tmp_path, "rf/train/labels/a.txt", 0)
    label(tmp_path, "rf/valid/labels/b.txt", 0)

    dataset = only_set(scan_to_end(tmp_path), "rf")

    assert dataset.layout is LayoutKind.SPLIT_TREE
    assert dataset.splits == {"train": 1, "val": 1}
    assert all(item.label for item in dataset.items)


def test_flat_pairs_with_orphans_and_images_only(tmp_path: Path) -> None:
    touch(tmp_path, "pairs/a.jpg", "pairs/b.jpeg", "pairs/c.tif")
    label(tmp_path, "pairs/a.txt", 2, 2)
    label(tmp_path, "pairs/b.txt", 0)
    label(tmp_path, "pairs/lost.txt", 0)
    touch(tmp_path, "raw/x.png", "raw/y.webp", "raw/notes.md")
    touch(tmp_path, "raw/README.txt", content=b"taken in 2024\n")
    # A lone images/ folder without splits or labels is just a folder of images.
    touch(tmp_path, "shots/images/p.jpg")

    inventory = scan_to_end(tmp_path)

    pairs = only_set(inventory, "pairs")
    assert pairs.layout is LayoutKind.FLAT_PAIRS
    assert {item.image: item.label for item in pairs.items} == {
        "pairs/a.jpg": "pairs/a.txt",
        "pairs/b.jpeg": "pairs/b.txt",
        "pairs/c.tif": None,
    }
    assert pairs.orphan_labels == ("pairs/lost.txt",)
    raw = only_set(inventory, "raw")
    assert raw.layout is LayoutKind.IMAGES_ONLY
    assert {item.label for item in raw.items} == {None}
    assert raw.orphan_labels == ()
    assert only_set(inventory, "shots/images").layout is LayoutKind.IMAGES_ONLY


@pytest.mark.parametrize("suffix", [".bmp", ".dng", ".mpo", ".pfm", ".heic", ".JPG", ".TIFF"])
def test_every_ultralytics_image_format_counts(tmp_path: Path, suffix: str) -> None:
    touch(tmp_path, f"a{suffix}")
    (entry,) = scan_to_end(tmp_path).files
    assert entry.kind is FileKind.IMAGE


def test_summary_counts_per_class_split_format_and_layout(tmp_path: Path) -> None:
    touch(tmp_path, "ds/images/train/a.jpg", "ds/images/train/b.jpg", "ds/images/val/c.png")
    label(tmp_path, "ds/labels/train/a.txt", 0, 0, 1)
    label(tmp_path, "ds/labels/train/b.txt", 1)
    touch(tmp_path, "ds/labels/val/c.txt", content=b"0 0.5 0.5 0.1 0.1\nnonsense\n7 1 1 1 1\n")
    touch(
        tmp_path,
        "ds/data.yaml",
        content=b"train: images/train\nval: images/val\nnames: [cat, dog]\n",
    )
    touch(tmp_path, "loose/p.jpg")

    summary = summarize(scan_to_end(tmp_path))

    assert summary["classes"] == [
        {"class": "cat", "objects": 3, "images": 2},
        {"class": "dog", "objects": 2, "images": 2},
        {"class": "7", "objects": 1, "images": 1},
    ]
    assert summary["splits"] == {"train": 2, "val": 1, "unsplit": 1}
    assert summary["layouts"] == {
        "data.yaml": {"sets": 1, "images": 3},
        "unlabelled images": {"sets": 1, "images": 1},
    }
    assert {row["format"]: row["files"] for row in summary["formats"]} == {
        ".jpg": 3,
        ".png": 1,
        ".txt": 3,
        ".yaml": 1,
    }
    assert summary["kinds"] == {"image": 4, "label": 3, "data.yaml": 1}
    assert summary["sets"][0]["objects_per_class"] == {"cat": 3, "dog": 2, "7": 1}
