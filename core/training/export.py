"""Smaller models from a run, each validated against the full one.

Quantizing trades accuracy for size and speed; how much accuracy depends on
the data, so every export is validated on the run's own validation images and
shown beside the full model: the comparison users ask for before shipping an
INT8 model. Runs in whatever process calls it (the CLI), never in the GUI.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from datayard.core.atomic import write_atomically
from datayard.core.errors import UsageError
from datayard.core.paths import AppDirs
from datayard.core.training import offline
from datayard.core.training.runs import RunFolder

FORMATS = ("onnx",)
PRECISIONS = {"fp32": None, "fp16": 16, "int8": 8}
"""Label -> Ultralytics' ``quantize`` value."""


@dataclass(frozen=True)
class ExportRow:
    label: str
    path: Path
    size: int
    metrics: dict[str, float]


def export_run(
    folder: RunFolder, dirs: AppDirs, *, format: str = "onnx", precisions: tuple[str, ...]
) -> Iterator[ExportRow]:
    """The full model's row, then one per precision, as each is made and validated."""
    if format not in FORMATS:
        raise UsageError(f"export to {format} is not supported; use one of {', '.join(FORMATS)}")
    best = folder.weights_dir / "best.pt"
    if not best.is_file():
        raise UsageError(f"run {folder.run_id} has no best.pt yet: export after it has trained")
    data = _data_yaml(folder)
    offline.prepare(dirs.cache / "ultralytics")
    from .yolo import export_model, validate

    args = _train_args(folder)
    imgsz = int(args.get("imgsz", 640))
    yield ExportRow("PyTorch (full)", best, best.stat().st_size, validate(best, data, imgsz))
    folder.exports_dir.mkdir(exist_ok=True)
    for label in precisions:
        made = export_model(best, format, data, imgsz, PRECISIONS[label])
        target = folder.exports_dir / f"best-{label}{made.suffix}"
        shutil.move(made, target)
        row = ExportRow(
            f"{format.upper()} {label.upper()}",
            target,
            target.stat().st_size,
            validate(target, data, imgsz),
        )
        _record_score(folder, row)
        yield row


def made_exports(folder: RunFolder) -> tuple[dict[str, Any], ...]:
    """The exports in the run's folder: file name and size, and, for those whose
    validation was recorded for the very file there, its label and scores."""
    if not folder.exports_dir.is_dir():
        return ()
    scores = _scores(folder)
    made = []
    for path in sorted(folder.exports_dir.iterdir()):
        size = path.stat().st_size
        scored = scores.get(path.name, {})
        recorded = scored.get("bytes") == size
        made.append(
            {"file": path.name, "bytes": size}
            | ({"label": scored["label"], "metrics": scored["metrics"]} if recorded else {})
        )
    return tuple(made)


def _record_score(folder: RunFolder, row: ExportRow) -> None:
    scores = _scores(folder)
    scores[row.path.name] = {"label": row.label, "bytes": row.size, "metrics": row.metrics}
    body = json.dumps(scores, indent=2, sort_keys=True) + "\n"
    write_atomically(folder.export_scores_file, body.encode())


def _scores(folder: RunFolder) -> dict[str, dict[str, Any]]:
    """The recorded scores; none when the file is missing or unreadable (a score is a
    note beside the export, never a reason to refuse it)."""
    try:
        loaded = json.loads(folder.export_scores_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {
        name: value
        for name, value in loaded.items()
        if isinstance(value, dict) and isinstance(value.get("metrics"), dict)
    }


def _train_args(folder: RunFolder) -> dict[str, Any]:
    path = folder.train_dir / "args.yaml"
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise UsageError(f"run {folder.run_id} has no {path.name}: it never started") from error
    return loaded if isinstance(loaded, dict) else {}


def _data_yaml(folder: RunFolder) -> Path:
    data = _train_args(folder).get("data")
    if not data or not Path(data).is_file():
        raise UsageError(
            f"the dataset run {folder.run_id} trained on is no longer in the local cache "
            f"({data}); exports are validated on it, so train or pull it again first"
        )
    return Path(data)
