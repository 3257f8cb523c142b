"""``datayard predict`` with real YOLO weights on real images, against the real store.

The session's base weights learnt four shapes images by heart: on those they must
find every shape, and nothing else, at the default threshold. What else is checked
is what a user relies on: one YOLO label file per image in the images' folders,
the confidences beside them, the summary's counts adding up against the labels
beside the images, and the model named as a file or as the store's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from datayard.core.drive.labels import load_label
from datayard.core.training.predict import iou
from tests.fixtures.base_weights import trained_images
from tests.fixtures.datasets import add_profile, fresh_bucket, run_cli
from tests.fixtures.services import S3Server
from tests.fixtures.training import shapes_files

pytestmark = pytest.mark.usefixtures("secret_service")


def shapes_set(root: Path) -> Path:
    """Eight shapes images with their labels, in Ultralytics' images/labels layout."""
    for relative, data in shapes_files(8, 0).items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root / "images"


def test_predict_writes_a_label_per_image_and_counts_against_the_labels(
    base_weights: Path, s3_server: S3Server, tmp_path: Path
) -> None:
    images = shapes_set(tmp_path / "set")
    out = tmp_path / "predicted"
    done = run_cli(
        "predict", str(base_weights), str(images), "--out", str(out), "--conf", "0.001", "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["images"], summary["labelled"], summary["objects"]) == (8, 8, 8)
    assert summary["found"] + summary["missed"] == 8
    assert summary["false"] == sum(summary["detections"].values()) - summary["found"]
    assert set(summary["detections"]) <= {"square", "disc"} and summary["per_second"] > 0
    assert json.loads((out / "summary.json").read_text()) == summary
    labels = sorted(out.rglob("*.txt"))
    assert [p.relative_to(out).as_posix() for p in labels] == [
        f"train/s{index:03d}.txt" for index in range(8)
    ]
    listed = [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]
    assert [item["image"] for item in listed] == [f"train/s{index:03d}.jpg" for index in range(8)]
    for path, item in zip(labels, listed, strict=True):
        label = load_label(path)  # YOLO labels as they are: they can be pushed as labels
        assert not label.problems and len(label.objects) == len(item["detections"])
        assert all(
            o.class_id in (0, 1) and all(0 <= v <= 1 for v in o.values) for o in label.objects
        )
        assert all(d["confidence"] >= 0.001 for d in item["detections"])

    bucket = fresh_bucket(s3_server)
    add_profile(s3_server, bucket)
    weights = Path(shutil.copy(base_weights, tmp_path / "base.pt"))
    added = run_cli("models", "add", str(weights), "--name", "shapes-base", "--profile", "lab")
    assert added.returncode == 0, added.stderr
    stored = run_cli(
        "predict",
        "shapes-base",
        str(images),
        "--out",
        str(tmp_path / "again"),
        "--conf",
        "0.001",
        "--profile",
        "lab",
        "--json",
    )
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["detections"] == summary["detections"]


def test_a_model_finds_the_shapes_it_was_trained_on_where_their_labels_say(
    base_weights: Path, tmp_path: Path
) -> None:
    root = tmp_path / "learnt"
    for relative, data in trained_images().items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    out = tmp_path / "predicted"
    done = run_cli("predict", str(base_weights), str(root / "images"), "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["objects"], summary["found"], summary["missed"], summary["false"]) == (
        4,
        4,
        0,
        0,
    )
    for predicted in sorted((out / "train").glob("*.txt")):
        (found,) = load_label(predicted).objects
        (truth,) = load_label(root / "labels/train" / predicted.name).objects
        assert found.class_id == truth.class_id
        assert iou(found.values, truth.values) >= 0.5


def test_predict_refuses_what_it_cannot_use_with_the_reason(
    base_weights: Path, tmp_path: Path
) -> None:
    images = shapes_set(tmp_path / "set")
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"not weights" * 100)
    (tmp_path / "pfm").mkdir()
    (tmp_path / "pfm" / "depth.pfm").write_bytes(b"PF\n1 1\n-1\n" + bytes(12))
    for args, message in (
        ((str(base_weights), str(images), "--out", str(images / "out")), "is inside"),
        ((str(base_weights), str(tmp_path / "gone"), "--out", str(tmp_path / "o")), "neither"),
        ((str(fake), str(images), "--out", str(tmp_path / "o")), "is not YOLO weights"),
        ((str(tmp_path / "none.pt"), str(images), "--out", str(tmp_path / "o")), "is not a file"),
        (
            (str(base_weights), str(tmp_path / "pfm"), "--out", str(tmp_path / "o")),
            "Ultralytics does not read",
        ),
    ):
        done = run_cli("predict", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
