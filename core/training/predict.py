"""A model's predictions on a folder of images: YOLO label files and what they add up to.

Predicting is how people try a model before they trust it, so the summary
says what a user checks first: how many objects it found per class, how fast,
and, where the images have labels beside them (Ultralytics' layout: the last
``images/`` folder becomes ``labels/``, or a ``.txt`` next to the image), how
many labelled objects it missed and how many of its detections match nothing.
A detection matches an object of its class whose box overlaps it by an IoU of
at least 0.5, each object matched once, the most confident detections first,
as detection benchmarks count them. It runs in a child process, as training
does: torch stays out of the caller's process.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from datayard.core.atomic import write_atomically
from datayard.core.drive import formats
from datayard.core.drive.labels import LabelObject, load_label
from datayard.core.drive.scan.layout import label_for
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, Finished, Progress, check_cancel
from datayard.core.training import offline

PHASE = "predicting"
MATCH_IOU = 0.5
SUMMARY_FILE = "summary.json"
DETECTIONS_FILE = "detections.jsonl"
"""One line per image: its path under the source and its detections with their
confidence, which YOLO label files have no room for."""

Box = tuple[float, float, float, float]
"""Centre x, centre y, width, height, as fractions of the image: YOLO's label values."""


@dataclass(frozen=True)
class Detection:
    class_id: int
    box: Box
    confidence: float


@dataclass(frozen=True)
class PredictionSummary:
    root: str
    """The folder the images are listed under in ``detections.jsonl`` and in ``out``."""
    names: dict[int, str]
    """The model's class names."""
    images: int
    detections: dict[str, int]
    """Detections per class name."""
    labelled: int
    """Images with a label file: those whose misses and false detections are counted."""
    objects: int
    """Objects in those labels."""
    found: int
    missed: int
    false: int
    """Detections in labelled images that match no labelled object."""
    seconds: float
    """Predicting took this long, loading the model not counted."""

    @property
    def per_second(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, object]:
        """As ``summary.json`` and ``predict --json`` write it."""
        return {**asdict(self), "per_second": round(self.per_second, 2)}


def images_under(source: Path) -> list[Path]:
    """The images of ``source`` (a file or a folder, searched through), in name order."""
    if source.is_file():
        if not formats.is_image(source.name):
            raise UsageError(f"{source} is not an image Datayard reads")
        return [source]
    if not source.is_dir():
        raise UsageError(f"{source} is neither a folder nor an image")
    found = []
    for folder, names, files in os.walk(source):
        names[:] = sorted(name for name in names if not formats.is_hidden(name))
        found += [
            Path(folder) / name
            for name in sorted(files)
            if formats.is_image(name) and not formats.is_hidden(name)
        ]
    if not found:
        raise UsageError(f"{source} holds no images")
    return found


def chosen_images(sources: Sequence[Path]) -> tuple[Path, list[Path]]:
    """The images of every source (files and folders, as a selection holds them), each
    once, and the folder they are shown under: a lone folder itself, else the deepest
    folder that holds them all."""
    if not sources:
        raise UsageError("no images chosen")
    images = list(dict.fromkeys(image for source in sources for image in images_under(source)))
    if len(sources) == 1 and sources[0].is_dir():
        return sources[0], images
    return Path(os.path.commonpath([image.parent for image in images])), images


def predict_images(
    weights: str,
    sources: Sequence[str],
    out: str,
    options: dict[str, object],
    config_dir: str,
    cancel: CancelToken | None = None,
) -> Generator[Progress | Finished[PredictionSummary], None, None]:
    """Predict on every image of ``sources`` (see :func:`chosen_images`); one YOLO label
    file per image under ``out`` (in the images' folders: usable as labels as they are),
    the confidences and the labelled objects in ``out/detections.jsonl``, and
    ``out/summary.json``. Runs in a child process
    (:func:`~datayard.core.child_process.run_in_child_process`); ``options``: ``conf``,
    ``imgsz``, ``device``."""
    root, images = chosen_images([Path(source) for source in sources])
    target = Path(out)
    offline.prepare_quiet_child(Path(config_dir))
    from .yolo import TrainingError, predict_boxes

    counts: Counter[str] = Counter()
    names: dict[int, str] = {}
    labelled = objects = found = false = 0
    yield Progress(PHASE, 0, len(images))
    target.mkdir(parents=True, exist_ok=True)
    try:
        predictions = predict_boxes(Path(weights), images, options)
        started = time.monotonic()  # the images per second are the model's, not its loading's
        with (target / DETECTIONS_FILE).open("w", encoding="utf-8") as listing:
            for done, (image, names, detections) in enumerate(predictions, 1):
                check_cancel(cancel)
                relative = image.relative_to(root)
                truth = _truth(image)
                _write_label(target / relative.with_suffix(formats.LABEL_SUFFIX), detections)
                listing.write(_listed(relative, names, detections, truth))
                counts.update(names.get(d.class_id, str(d.class_id)) for d in detections)
                if truth is not None:
                    matched = len(match(detections, truth).objects)
                    labelled, objects = labelled + 1, objects + len(truth)
                    found, false = found + matched, false + len(detections) - matched
                yield Progress(PHASE, done, len(images))
    except TrainingError as error:  # Ultralytics' refusal, as a message for the caller
        raise UsageError(str(error)) from None
    summary = PredictionSummary(
        root=str(root),
        names=names,
        images=len(images),
        detections=dict(sorted(counts.items())),
        labelled=labelled,
        objects=objects,
        found=found,
        missed=objects - found,
        false=false,
        seconds=round(time.monotonic() - started, 3),
    )
    body = json.dumps(summary.to_dict(), indent=2) + "\n"
    write_atomically(target / SUMMARY_FILE, body.encode())
    yield Finished(summary)


def _listed(
    image: Path,
    names: dict[int, str],
    detections: Sequence[Detection],
    truth: Sequence[LabelObject] | None,
) -> str:
    found = [
        {
            "class_id": d.class_id,
            "class": names.get(d.class_id, str(d.class_id)),
            "box": d.box,
            "confidence": d.confidence,
        }
        for d in detections
    ]
    labelled = None if truth is None else [Truth.of(item).to_dict() for item in truth]
    return json.dumps({"image": image.as_posix(), "detections": found, "truth": labelled}) + "\n"


@dataclass(frozen=True)
class Truth:
    """A labelled object as predictions are matched against it: its class and box."""

    class_id: int
    box: Box

    @classmethod
    def of(cls, item: LabelObject) -> Truth:
        return cls(item.class_id, _box(item))

    def to_dict(self) -> dict[str, object]:
        return {"class_id": self.class_id, "box": self.box}


@dataclass(frozen=True)
class Matched:
    """Which detections found an object, and which objects were found (by their
    positions in the lists matched): the others are false detections and misses."""

    detections: frozenset[int]
    objects: frozenset[int]


def match(
    detections: Sequence[Detection], truth: Sequence[LabelObject] | Sequence[Truth]
) -> Matched:
    """The detections that find labelled objects (see the module's rule)."""
    boxes = [item if isinstance(item, Truth) else Truth.of(item) for item in truth]
    left = set(range(len(boxes)))
    found: dict[int, int] = {}
    for index in sorted(range(len(detections)), key=lambda i: -detections[i].confidence):
        detection = detections[index]
        best = max(
            (i for i in left if boxes[i].class_id == detection.class_id),
            key=lambda i: iou(detection.box, boxes[i].box),
            default=None,
        )
        if best is not None and iou(detection.box, boxes[best].box) >= MATCH_IOU:
            left.remove(best)
            found[index] = best
    return Matched(frozenset(found), frozenset(found.values()))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two centre-size boxes."""
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _box(item: LabelObject) -> Box:
    """A label object's box (a polygon's: the box around it)."""
    if item.is_box:
        x, y, w, h = item.values
        return (x, y, w, h)
    xs, ys = [p[0] for p in item.points], [p[1] for p in item.points]
    return ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys))


def _truth(image: Path) -> list[LabelObject] | None:
    """The objects of the image's label, where it has one that can be read."""
    beside = image.with_suffix(formats.LABEL_SUFFIX)
    tree = Path(label_for(image.as_posix()))
    for path in (tree, beside):
        if path.is_file():
            try:
                return list(load_label(path).objects)
            except OSError:
                return None
    return None


def _write_label(path: Path, detections: Sequence[Detection]) -> None:
    """A YOLO label file of the detections, most confident first."""
    ordered = sorted(detections, key=lambda d: -d.confidence)
    lines = "".join(f"{d.class_id} {' '.join(f'{v:.6f}' for v in d.box)}\n" for d in ordered)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(lines, encoding="utf-8")
