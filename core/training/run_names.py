"""Names people call runs by: ``street-yolo11n-3`` beside ``20261207-101500-1a2b3c``.

An id says when a run started and is unique everywhere; a name says what it
trained (the dataset and the model it started from) and which attempt it was,
so that a list of runs reads like a lab notebook. Names are unique on the
machine that launched the runs, and can be changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from datayard.core.datasets.manifest import check_name
from datayard.core.errors import UsageError
from datayard.core.training.spec import RUN_PREFIX, TrainSpec, stored_model

_NUMBERED = re.compile(r"(.+)-([1-9][0-9]{0,8})")


def next_name(spec: TrainSpec, dataset: str, taken: Iterable[str]) -> str:
    """``DATASET-MODEL-N``, N one more than the highest of that stem among ``taken``."""
    stem = f"{_dataset_name(dataset)}-{_model_name(spec.model)}"[:90].rstrip("._-")
    numbers = [
        int(found.group(2))
        for found in map(_NUMBERED.fullmatch, taken)
        if found is not None and found.group(1) == stem
    ]
    return f"{stem}-{max(numbers, default=0) + 1}"


def check_run_name(name: str) -> str:
    """A name a user gives a run: the alphabet of dataset names, which prints and types well."""
    return check_name("run name", name)


def _dataset_name(dataset: str) -> str:
    """``ada/street@v3`` -> ``street``."""
    return dataset.partition("@")[0].rpartition("/")[2] or "run"


def _model_name(model: str) -> str:
    """What the run started from, short: ``yolo11n``, a stored model's name, a file's stem."""
    if model.startswith(RUN_PREFIX):
        return "finetuned"
    try:
        stored = stored_model(model, "owner")
    except UsageError:
        stored = None
    if stored is not None:
        return stored.name
    stem = PurePosixPath(model.replace("\\", "/")).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("._-") or "model"
