"""A batch size to start from on a GPU whose free memory is known (a host's, from ``probe``).

Ultralytics can measure this itself (``batch=-1``, its AutoBatch), but only
once the run has started on the GPU; a user choosing a host wants a number
before launching, and one they can read the reason for.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

PER_IMAGE_MIB_AT_640 = {"n": 100, "s": 200, "m": 400, "l": 600, "x": 850}
"""GPU memory one image of a batch costs at 640 px, by model size (the last letter of
``yolo11n``): about (GPU_mem - 1 GiB) / 16 in the training logs Ultralytics publishes
for batch 16 (about 2.5 GiB for n, 4 for s, 7 for m, 10 for l, 14 for x)."""
UNKNOWN_SIZE = "m"
"""A model whose size its name does not tell (``run:...``, a renamed ``.pt``) counts as
medium: a batch too small only trains slower, one too large fails."""
FIXED_MIB = 1024
"""What training holds whatever the batch: the CUDA context, the weights, their
gradients and the optimizer's state, and cuDNN's workspace."""
SHARE = 0.6
"""The share of the free memory planned for, as Ultralytics' AutoBatch does."""
LARGEST = 256

_SIZE = re.compile(r"^yolo\w*?\d+([nsmlx])(?:-(?:seg|cls|pose|obb))?\.(?:ya?ml|pt)$")


def gpu_batch(free_mib: int, *, imgsz: int, model: str, train_images: int, gpus: int = 1) -> int:
    """Images per batch for ``model`` at ``imgsz`` px on ``gpus`` GPUs with ``free_mib``
    free each: a starting point, not a promise.

    Training memory is a fixed part plus a part per image, the activations kept
    for the backward pass, which grows with the pixels (``imgsz`` squared) and
    the model's size. Only 60% of the free memory is planned for: validation,
    the allocator's fragmentation and other processes on the GPU take the rest.
    The result is a power of two (the sizes people compare runs by) from 1 to
    256, and never more than the training images, which one batch would
    already hold. With several GPUs Ultralytics splits the batch between them,
    so each adds its share. The first epoch shows the real use (``GPU_mem`` in
    the worker's log): raise the batch while it stays well below the GPU's
    memory, halve it after an out-of-memory.
    """
    per_image = PER_IMAGE_MIB_AT_640[model_size(model)] * (imgsz / 640) ** 2
    fits = int((free_mib * SHARE - FIXED_MIB) / per_image) * max(1, gpus)
    batch = 1
    while batch * 2 <= min(fits, LARGEST, max(1, train_images)):
        batch *= 2
    return batch


def model_size(model: str) -> str:
    """The size letter of a YOLO model's name (``yolo11s-seg.yaml``: ``s``)."""
    found = _SIZE.match(PurePosixPath(model.replace("\\", "/")).name)
    return found.group(1) if found else UNKNOWN_SIZE


def device_gpus(device: str, available: int) -> list[int]:
    """The GPUs a run's ``device`` trains on, among ``available``: ``auto`` takes the
    first, as Ultralytics does; ``cpu``, ``mps`` and indexes the host lacks take none."""
    text = device.strip().lower()
    if text in ("", "auto"):
        return [0] if available else []
    indexes = [part.strip() for part in text.split(",")]
    if not all(index.isdigit() for index in indexes):
        return []
    chosen = [int(index) for index in indexes]
    return chosen if all(index < available for index in chosen) else []
