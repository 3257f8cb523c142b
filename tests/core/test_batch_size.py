"""The batch size suggested from a GPU's free memory."""

from __future__ import annotations

import pytest

from datayard.core.training.batch_size import device_gpus, gpu_batch, model_size
from datayard.core.training.spec import SHIPPED_MODELS

GIB = 1024


@pytest.mark.parametrize(
    ("free_gib", "model", "batch"),
    [
        (79, "yolo11n.yaml", 256),  # an idle H100: more than anyone needs
        (22, "yolo11n.yaml", 64),  # an RTX 4090 with a desktop on it
        (7, "yolo11n.yaml", 32),  # an 8 GB card
        (7, "yolo11m.yaml", 8),  # a medium model needs twice the memory per image
        (22, "yolov8s.yaml", 32),
        (3, "yolo11n.yaml", 8),
        (2, "yolo11n.yaml", 2),
    ],
)
def test_the_batch_follows_the_free_memory_and_the_model(
    free_gib: int, model: str, batch: int
) -> None:
    assert gpu_batch(free_gib * GIB, imgsz=640, model=model, train_images=10_000) == batch


def test_smaller_images_leave_room_for_more_of_them() -> None:
    at_640 = gpu_batch(7 * GIB, imgsz=640, model="yolo11n.yaml", train_images=10_000)
    at_320 = gpu_batch(7 * GIB, imgsz=320, model="yolo11n.yaml", train_images=10_000)
    assert at_320 == 4 * at_640  # a quarter of the pixels


def test_a_batch_is_a_power_of_two_within_the_training_images_and_at_least_one() -> None:
    assert gpu_batch(79 * GIB, imgsz=64, model="yolo11n.yaml", train_images=16) == 16
    assert gpu_batch(79 * GIB, imgsz=64, model="yolo11n.yaml", train_images=100) == 64
    assert gpu_batch(512, imgsz=640, model="yolo11n.yaml", train_images=100) == 1  # full GPU
    for free in range(0, 80 * GIB, 997):
        batch = gpu_batch(free, imgsz=640, model="yolo11s.yaml", train_images=10_000)
        assert batch & (batch - 1) == 0 and 1 <= batch <= 256


def test_several_gpus_share_the_batch() -> None:
    one = gpu_batch(10 * GIB, imgsz=640, model="yolo11n.yaml", train_images=10_000)
    two = gpu_batch(10 * GIB, imgsz=640, model="yolo11n.yaml", train_images=10_000, gpus=2)
    assert two == 2 * one


def test_the_model_size_comes_from_its_name() -> None:
    assert {model_size(name) for name in SHIPPED_MODELS} == {"n", "s", "m"}
    assert model_size("yolo11x-seg.yaml") == "x"
    assert model_size("/models/yolov8l.pt") == "l"
    assert model_size("C:\\weights\\yolo11s-pose.pt") == "s"
    # Names that do not tell count as medium.
    assert model_size("run:20260101-000000-abcdef") == "m"
    assert model_size("best.pt") == "m"


def test_the_device_names_the_gpus_whose_memory_counts() -> None:
    assert device_gpus("auto", 2) == [0]
    assert device_gpus("1", 2) == [1]
    assert device_gpus("0, 1", 2) == [0, 1]
    assert device_gpus("auto", 0) == []
    assert device_gpus("cpu", 2) == []
    assert device_gpus("2", 2) == []  # the host has no third GPU
    assert device_gpus("mps", 1) == []
