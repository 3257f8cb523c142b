"""The one module that talks to Ultralytics: its callbacks become protocol events.

Like Ultralytics' own logger integrations, each hook is small and guarded: an
error while reporting is logged and training goes on. The one exception that
is meant to escape is :class:`PauseRequested`, which is how a pause leaves a
resumable checkpoint behind (the last full epoch's last.pt keeps its optimizer
state; a stop, by contrast, finishes the run and strips it).

Import this module only in a worker process: it imports torch and Ultralytics.

What the hooks rely on in Ultralytics' ``BaseTrainer`` (8.4), all of it checked
against the installed version by ``tests/core/test_ultralytics_contract.py``
without a training, so that an upgrade that changes any of it fails there,
naming what changed:

- The callbacks in :data:`CALLBACKS`, under those names. ``_do_train`` fires
  ``on_pretrain_routine_end`` once, at the end of ``_setup_train`` (after the
  batch size is settled by AutoBatch and the loaders are built); then per
  epoch ``on_train_epoch_start``, ``on_train_batch_end`` after every batch,
  ``on_model_save`` (only when it saved), ``on_fit_epoch_end``. After the
  last epoch ``final_eval`` validates best.pt and fires ``on_fit_epoch_end``
  once more with ``epoch`` raised by one: an epoch whose start was never seen
  is that final validation (:class:`Final`).
- The attributes in :data:`TRAINER_ATTRIBUTES`, which the hooks read (and
  ``stop``, which they set): the trainer checks ``stop`` right after
  ``on_train_batch_end``, and then validates and saves before it leaves.
- An exception raised in a callback leaves ``train()`` unchanged (callbacks are
  not guarded): :class:`PauseRequested` depends on it.
- Validation metrics are named ``metrics/<name>(B|M|P)`` (boxes, masks,
  pose) and losses are dicts of tensors: see :func:`_metrics`, :func:`_floats`.
- When the first epoch runs out of GPU memory, ``_do_train`` halves
  ``batch_size``, rebuilds the loaders and starts the epoch again from
  ``on_train_epoch_start``, where the hooks report the new batch size.
- A checkpoint (``save_model``) is a dict whose ``epoch`` is the last full
  epoch's (0-based; -1 once training finished), with the ``optimizer`` state
  a resume needs (none once finished) and ``train_args``, whose ``project`` is
  the run's folder: see :func:`checkpoint_problem`. A resume takes its
  arguments from the checkpoint but those ``check_resume`` allows, among them
  ``save_dir``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import numbers
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datayard.core.errors import DatayardError
from datayard.core.models.version import TASKS, WeightsFacts
from datayard.core.training.predict import Detection
from datayard.core.training.protocol import Batch, Checkpoint, Epoch, Final, Setup, TrainingEvent
from datayard.core.training.runs import Control

log = logging.getLogger(__name__)

Emit = Callable[[TrainingEvent], None]

CALLBACKS = (
    "on_pretrain_routine_end",
    "on_train_epoch_start",
    "on_train_batch_end",
    "on_model_save",
    "on_fit_epoch_end",
)
"""The trainer's callbacks that :class:`Hooks` handle, in the order an epoch fires them."""

TRAINER_ATTRIBUTES = frozenset(
    {
        "args",
        "batch_size",
        "best",
        "best_fitness",
        "data",
        "device",
        "epoch",
        "epochs",
        "fitness",
        "last",
        "loss_items",
        "metrics",
        "optimizer",
        "save_dir",
        "start_epoch",
        "stop",
        "test_loader",
        "tloss",
        "train_loader",
        "validator",
    }
)
"""Every attribute of the trainer this module uses; nothing else of it is read."""

_ULTRALYTICS_ERROR = re.compile(r"^ERROR\s+\S+\s+")
_METRIC = re.compile(r"^metrics/(.+)\((\w)\)$")
_KIND = {"B": "", "M": "mask ", "P": "pose "}
_TASK_SUFFIX = {"detect": "", "segment": "-seg", "classify": "-cls", "pose": "-pose", "obb": "-obb"}


class PauseRequested(Exception):  # noqa: N818 - a request, not a failure
    """Raised from a batch hook to leave training with a resumable checkpoint."""


class TrainingError(DatayardError):
    """Training could not go on; ``reason`` is the protocol's short category."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Outcome:
    """How ``train`` ended, for the worker's last event."""

    stopped: bool
    epochs_done: int
    epochs: int
    best_epoch: int | None
    weights: tuple[Path, ...]


@dataclass
class _State:
    started_epochs: set[int] = field(default_factory=set)
    epochs_done: int = 0
    epoch_started: float = 0.0
    batch: int = 0
    step: int = 0
    best_epoch: int | None = None
    stop_requested: bool = False
    setup: Setup | None = None
    """The last set-up reported: reported again when the batch size changes."""


def model_source(model: str, task: str) -> str:
    """The shipped architecture for ``task`` (yolo11n.yaml -> yolo11n-seg.yaml), or the path."""
    if model.endswith((".yaml", ".yml")) and "/" not in model:
        stem, dot, extension = model.rpartition(".")
        suffix = _TASK_SUFFIX.get(task, "")
        if suffix and not stem.endswith(suffix):
            return f"{stem}{suffix}{dot}{extension}"
    return model


def _floats(values: Any) -> dict[str, float]:
    """Loss dicts hold tensors; events hold plain numbers."""
    return {str(k).split("/")[-1]: round(float(v), 6) for k, v in dict(values).items()}


def _metrics(values: dict[str, Any]) -> dict[str, float]:
    """``metrics/mAP50(B)`` -> ``mAP50``; mask and pose metrics keep their kind in the name."""
    found = {}
    for key, value in values.items():
        match = _METRIC.match(key)
        if match:
            found[f"{_KIND.get(match.group(2), '')}{match.group(1)}"] = round(float(value), 6)
    return found


def _class_metrics(validator: Any) -> dict[str, dict[str, float]]:
    """Per class, the validation that just ran, as Ultralytics prints its table
    (``summary()``: one row per class with its numbers); none for a task without classes'
    rows (classify)."""
    summary = getattr(getattr(validator, "metrics", None), "summary", None)
    try:
        rows = summary() if summary is not None else []
        return {
            str(row["Class"]): {
                str(key): round(float(value), 6)
                for key, value in row.items()
                if key != "Class" and isinstance(value, numbers.Real)
            }
            for row in rows
            if "Class" in row
        }
    except Exception:  # the overall metrics are reported all the same
        log.exception("could not read the per-class metrics")
        return {}


def _guarded(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    @functools.wraps(hook)
    def run(trainer: Any) -> None:
        try:
            hook(trainer)
        except PauseRequested:
            raise
        except Exception:
            log.exception("reporting failed in %s; training goes on", hook.__name__)

    return run


class Hooks:
    """Ultralytics callbacks that report progress and obey stop and pause requests."""

    def __init__(
        self,
        emit: Emit,
        *,
        run_id: str,
        dataset: str,
        model: str,
        requested: Callable[[], Control | None],
    ) -> None:
        self.emit = emit
        self.run_id = run_id
        self.dataset = dataset
        self.model = model
        self.requested = requested
        self.state = _State()

    def attach(self, yolo: Any) -> None:
        for name in CALLBACKS:
            yolo.add_callback(name, _guarded(getattr(self, name)))

    def on_pretrain_routine_end(self, trainer: Any) -> None:
        data = trainer.data or {}
        names = data.get("names") or {}
        loader = trainer.train_loader
        val = getattr(trainer, "test_loader", None)
        self.state.step = trainer.start_epoch * len(loader)
        self.state.epochs_done = trainer.start_epoch
        self.state.setup = Setup(
            run_id=self.run_id,
            dataset=self.dataset,
            model=self.model,
            task=str(trainer.args.task),
            device=str(trainer.device),
            epochs=int(trainer.epochs),
            batches_per_epoch=len(loader),
            batch_size=int(trainer.batch_size),
            image_size=int(trainer.args.imgsz),
            train_images=len(loader.dataset),
            val_images=len(val.dataset) if val is not None else 0,
            class_names=tuple(str(names[k]) for k in sorted(names)),
            start_epoch=int(trainer.start_epoch) + 1,
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        self.emit(self.state.setup)

    def on_train_epoch_start(self, trainer: Any) -> None:
        self.state.started_epochs.add(int(trainer.epoch))
        self.state.epoch_started = time.time()
        self.state.batch = 0
        setup = self.state.setup
        if setup is not None and int(trainer.batch_size) != setup.batch_size:
            # Out of memory in the first epoch: Ultralytics halved the batch and starts over.
            self.state.setup = dataclasses.replace(
                setup,
                batch_size=int(trainer.batch_size),
                batches_per_epoch=len(trainer.train_loader),
                time=time.time(),
            )
            self.emit(self.state.setup)

    def on_train_batch_end(self, trainer: Any) -> None:
        state = self.state
        state.batch += 1
        state.step += 1
        loader = trainer.train_loader
        losses = trainer.loss_items if trainer.loss_items is not None else {}
        self.emit(
            Batch(
                epoch=int(trainer.epoch) + 1,
                batch=state.batch,
                batches=len(loader),
                step=state.step,
                losses=_floats(losses),
                lr=float(trainer.optimizer.param_groups[0]["lr"]),
            )
        )
        request = self.requested()
        if request is Control.PAUSE:
            raise PauseRequested
        if request is Control.STOP and not state.stop_requested:
            state.stop_requested = True
            trainer.stop = True

    def on_fit_epoch_end(self, trainer: Any) -> None:
        epoch = int(trainer.epoch)
        metrics = dict(trainer.metrics or {})
        if epoch not in self.state.started_epochs:
            # Ultralytics calls this hook once more after training, for the
            # validation of best.pt, with the epoch counter past the last one.
            self.emit(
                Final(
                    best_epoch=self.state.best_epoch,
                    metrics=_metrics(metrics),
                    classes=_class_metrics(trainer.validator),
                )
            )
            return
        self.state.epochs_done = epoch + 1
        if trainer.best_fitness is not None and trainer.best_fitness == trainer.fitness:
            self.state.best_epoch = epoch + 1
        val_losses = {k: v for k, v in metrics.items() if k.startswith("val/")}
        tloss = trainer.tloss if trainer.tloss is not None else {}
        self.emit(
            Epoch(
                epoch=epoch + 1,
                epochs=int(trainer.epochs),
                train_losses=_floats(tloss),
                val_losses=_floats(val_losses),
                metrics=_metrics(metrics),
                fitness=None if trainer.fitness is None else round(float(trainer.fitness), 6),
                lr=float(trainer.optimizer.param_groups[0]["lr"]),
                seconds=round(time.time() - self.state.epoch_started, 3),
            )
        )

    def on_model_save(self, trainer: Any) -> None:
        epoch = int(trainer.epoch) + 1
        is_best = trainer.best_fitness is not None and trainer.best_fitness == trainer.fitness
        run_folder = Path(trainer.save_dir).parent
        for path, best in ((Path(trainer.last), False), (Path(trainer.best), True)):
            if path.is_file() and (not best or is_best):
                self.emit(
                    Checkpoint(
                        epoch=epoch,
                        path=path.relative_to(run_folder).as_posix(),
                        best=best,
                        size=path.stat().st_size,
                    )
                )


def train(
    hooks: Hooks,
    *,
    model: str,
    task: str,
    data: Path,
    save_dir: Path,
    arguments: dict[str, Any],
    resume_from: Path | None,
) -> Outcome:
    """Run one training to its end; :class:`PauseRequested` passes through.

    Errors become :class:`TrainingError` with what the user can do about them.
    """
    from ultralytics import YOLO

    try:
        yolo = YOLO(str(resume_from) if resume_from else model_source(model, task), task=task)
    except Exception as error:
        raise TrainingError("model", f"cannot load the model {model}: {error}") from error
    hooks.attach(yolo)
    common = {"data": str(data), "project": str(save_dir.parent), "name": save_dir.name}
    try:
        if resume_from:
            # The checkpoint names the folder it was saved in: a copy from the store may
            # come from a folder this machine no longer has.
            overrides = _resume_overrides(arguments)
            yolo.train(resume=True, **common, save_dir=str(save_dir), **overrides)
        else:
            yolo.train(**common, exist_ok=True, **arguments)
    except PauseRequested:
        raise
    except DatayardError:
        raise
    except Exception as error:
        raise _translate(error, hooks.state.started_epochs) from error
    weights = save_dir / "weights"
    return Outcome(
        stopped=hooks.state.stop_requested,
        epochs_done=hooks.state.epochs_done,
        epochs=int(yolo.trainer.epochs) if yolo.trainer else 0,
        best_epoch=hooks.state.best_epoch,
        weights=tuple(p for p in (weights / "best.pt", weights / "last.pt") if p.is_file()),
    )


def checkpoint_problem(path: Path, run_id: str) -> str | None:
    """Why ``path`` is not a checkpoint that run ``run_id`` resumes from, or None.

    It is loaded as a resume loads it. A copy from the store may have been written by
    anyone: its training folder must be the run's.
    """
    from ultralytics.nn.tasks import torch_safe_load

    try:
        checkpoint, _ = torch_safe_load(str(path))
    except Exception as error:
        # Ultralytics' message: "ERROR ❌️ <what>", then lines of fixes that are not ours.
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"is not a checkpoint ({_ULTRALYTICS_ERROR.sub('', first)})"
    arguments = checkpoint.get("train_args") if isinstance(checkpoint, dict) else None
    if not isinstance(arguments, dict):
        return "is not the checkpoint of an Ultralytics training"
    project = str(arguments.get("project", ""))
    if re.split(r"[\\/]", project)[-1] != run_id:
        return f"is the checkpoint of another training (saved in {project})"
    if checkpoint.get("optimizer") is None or checkpoint.get("epoch", -1) < 0:
        return "is the checkpoint of a finished training, which has nothing left to resume"
    return None


_RESUMABLE = ("batch", "device", "workers", "imgsz", "patience", "plots")


def _resume_overrides(arguments: dict[str, Any]) -> dict[str, Any]:
    """What Ultralytics lets a resume change; the rest comes from the checkpoint."""
    return {k: arguments[k] for k in _RESUMABLE if k in arguments}


def _translate(error: Exception, started_epochs: set[int]) -> TrainingError:
    text = str(error).strip() or type(error).__name__
    lowered = text.lower()
    if "out of memory" in lowered or isinstance(error, MemoryError):
        return TrainingError(
            "out-of-memory",
            f"out of memory: {text}. Halve the batch size or the image size and try again",
        )
    if "cuda" in lowered and any(w in lowered for w in ("available", "invalid", "device")):
        return TrainingError(
            "device", f"the requested device is not usable here: {text}. Use device auto or cpu"
        )
    if not started_epochs:
        if "dataset" in lowered or "images not found" in lowered or "data.yaml" in lowered:
            return TrainingError("dataset", f"the dataset cannot be used for training: {text}")
        return TrainingError("error", f"training could not start: {type(error).__name__}: {text}")
    return TrainingError("error", f"training failed: {type(error).__name__}: {text}")


def validate(weights: Path, data: Path, imgsz: int) -> dict[str, float]:
    """Validation metrics of any model file Ultralytics can load (.pt, .onnx)."""
    from ultralytics import YOLO

    try:
        results = YOLO(str(weights)).val(
            data=str(data), imgsz=imgsz, batch=1, device="cpu", plots=False, verbose=False
        )
    except Exception as error:
        raise TrainingError("model", f"cannot validate {weights.name}: {error}") from error
    return _metrics(dict(results.results_dict))


def describe_weights(path: Path) -> WeightsFacts:
    """What a weights file is, read as Ultralytics loads it for training; ``TrainingError``
    ("model") with Ultralytics' reason when it cannot be loaded."""
    from ultralytics import YOLO

    try:
        model = YOLO(str(path))
        names = dict(model.names)
        parameters = sum(int(p.numel()) for p in model.model.parameters())
    except Exception as error:
        raise TrainingError("model", f"{path} is not YOLO weights: {error}") from error
    if model.task not in TASKS:
        raise TrainingError("model", f"{path} is for the task {model.task!r}, which is unknown")
    configuration = getattr(model.model, "yaml", None) or {}
    train_args = (model.ckpt or {}).get("train_args") or {}
    imgsz = train_args.get("imgsz")
    return WeightsFacts(
        task=model.task,
        class_names=tuple(str(names[index]) for index in sorted(names)),
        architecture=Path(str(configuration.get("yaml_file", ""))).stem,
        parameters=parameters,
        imgsz=imgsz if isinstance(imgsz, int) else 0,
    )


def predict_boxes(
    weights: Path, images: Sequence[Path], options: dict[str, Any]
) -> Iterator[tuple[Path, dict[int, str], list[Detection]]]:
    """Each image with the model's class names and its detections, one image at a time
    (so that the caller can stop between two), in Ultralytics' order (by path);
    ``options`` go to Ultralytics' predict. The model is loaded before this returns:
    what follows is predicting alone.

    The images are handed over as a list file in a temporary folder, as
    ``yolo predict`` reads a folder: one streamed source read by OpenCV. A call per
    image set the predictor up again each time, and a Python list of paths is read
    whole with PIL first; both took a third longer.
    """
    from ultralytics import YOLO
    from ultralytics.data.utils import IMG_FORMATS

    unread = [image for image in images if image.suffix.lower()[1:] not in IMG_FORMATS]
    if unread:
        raise TrainingError(
            "data", f"Ultralytics does not read {unread[0]} ({len(unread)} such images)"
        )
    try:
        model = YOLO(str(weights))
    except Exception as error:
        raise TrainingError("model", f"{weights} is not YOLO weights: {error}") from error
    by_path = {str(image.absolute()): image for image in images}
    scratch = tempfile.TemporaryDirectory(prefix="datayard-predict-")
    listing = Path(scratch.name) / "images.txt"
    listing.write_text("".join(f"{path}\n" for path in by_path), encoding="utf-8")
    results = model.predict(source=str(listing), stream=True, verbose=False, **options)
    return _predicted(results, by_path, scratch)


def _predicted(
    results: Iterator[Any], by_path: dict[str, Path], scratch: tempfile.TemporaryDirectory[str]
) -> Iterator[tuple[Path, dict[int, str], list[Detection]]]:
    with scratch:  # the list file is read when the first result is asked for
        for result in results:
            boxes = result.boxes
            found = (
                []
                if boxes is None
                else [
                    Detection(int(c), (x, y, w, h), round(float(p), 4))
                    for c, (x, y, w, h), p in zip(
                        boxes.cls.tolist(), boxes.xywhn.tolist(), boxes.conf.tolist(), strict=True
                    )
                ]
            )
            names = {int(k): str(v) for k, v in dict(result.names).items()}
            yield by_path[result.path], names, found


def download_official(name: str, folder: Path) -> Path:
    """Ultralytics' own weights ``name`` (``yolo11n``), downloaded into ``folder`` by
    Ultralytics' downloader; ``TrainingError`` ("network") with the way to add them by
    hand when it cannot."""
    import inspect

    from ultralytics.utils.downloads import (
        GITHUB_ASSETS_NAMES,
        GITHUB_ASSETS_REPO,
        attempt_download_asset,
    )

    file = f"{name}.pt"
    if file not in GITHUB_ASSETS_NAMES:
        raise TrainingError(
            "model", f"{name!r} is not a model Ultralytics publishes (yolo11n, yolo11s-seg, ...)"
        )
    release = inspect.signature(attempt_download_asset).parameters["release"].default
    url = f"https://github.com/{GITHUB_ASSETS_REPO}/releases/download/{release}/{file}"
    try:
        found = Path(attempt_download_asset(folder / file))
        if not found.is_file():
            raise FileNotFoundError(f"Ultralytics left no {file}")
        return found
    except Exception as error:
        raise TrainingError(
            "network",
            f"cannot download {url} ({type(error).__name__}: no answer from github.com, or a "
            "refusal); on a machine that reaches "
            f"github.com, run `datayard models fetch {name}` there, or download that file and "
            f"add it here with `datayard models add {file} --name {name}`",
        ) from error


def export_model(weights: Path, format: str, data: Path, imgsz: int, quantize: int | None) -> Path:
    """Export ``weights``; INT8 calibrates on ``data``'s images, so it is always passed."""
    from ultralytics import YOLO

    try:
        made = YOLO(str(weights)).export(
            format=format, imgsz=imgsz, data=str(data), quantize=quantize, device="cpu"
        )
    except Exception as error:
        raise TrainingError("model", f"export to {format} failed: {error}") from error
    return Path(made)
