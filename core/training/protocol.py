"""The worker's event protocol: one JSON object per line, versioned.

A training worker runs where the GPU is (this machine, an SSH host, a pod) and
its only channel back is a byte stream, so every event is one self-contained
line: ``{"v": 1, "seq": 12, "type": "epoch", "time": ..., ...fields}``.
Readers accept lines from any worker that speaks the same major version:
unknown event types and unknown fields are skipped, so a newer worker can add
events without breaking an older dashboard; a different version is refused
with a message, since its fields may mean something else.

Epochs and batches are counted from 1, as a user reads them in a log.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from datayard.core import schema
from datayard.core.errors import DatayardError, quoted

VERSION = 1


class ProtocolError(DatayardError):
    """A line that is not an event of this protocol version."""


@dataclass(frozen=True, kw_only=True)
class TrainingEvent:
    """Base of every event; ``time`` is the wall clock when it happened (Unix seconds)."""

    TYPE: ClassVar[str] = ""
    TERMINAL: ClassVar[bool] = False
    time: float = field(default_factory=time.time)


RESUMING = "resuming"
"""The phase of the event that begins every worker of a run after its first: the run
goes on after its last ending."""


@dataclass(frozen=True, kw_only=True)
class Preparing(TrainingEvent):
    """Work before the first batch: pulling the dataset, building the model."""

    TYPE: ClassVar[str] = "preparing"
    phase: str
    done: int = 0
    total: int | None = None


@dataclass(frozen=True, kw_only=True)
class Setup(TrainingEvent):
    """Training is about to start: what it runs on, and how long an epoch is."""

    TYPE: ClassVar[str] = "setup"
    run_id: str
    dataset: str
    model: str
    task: str
    device: str
    epochs: int
    batches_per_epoch: int
    batch_size: int
    image_size: int
    train_images: int
    val_images: int
    class_names: tuple[str, ...]
    start_epoch: int = 1
    """Greater than 1 when the run resumes from a checkpoint."""
    host: str = ""
    pid: int = 0


@dataclass(frozen=True, kw_only=True)
class Batch(TrainingEvent):
    """One optimizer step: this batch's losses and the learning rate it used."""

    TYPE: ClassVar[str] = "batch"
    epoch: int
    batch: int
    batches: int
    step: int
    """Batches since the run started, over every epoch: the x axis of per-batch curves."""
    losses: dict[str, float]
    lr: float


@dataclass(frozen=True, kw_only=True)
class Epoch(TrainingEvent):
    """An epoch ended and was validated."""

    TYPE: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    train_losses: dict[str, float]
    val_losses: dict[str, float]
    metrics: dict[str, float]
    """``precision``, ``recall``, ``mAP50`` and ``mAP50-95`` (boxes), and task-specific ones."""
    fitness: float | None
    lr: float
    seconds: float
    """Duration of this epoch, training and validation."""


@dataclass(frozen=True, kw_only=True)
class Checkpoint(TrainingEvent):
    """Weights were saved after an epoch; ``best`` when they are the best so far."""

    TYPE: ClassVar[str] = "checkpoint"
    epoch: int
    path: str
    """Relative to the run's folder, e.g. ``train/weights/last.pt``."""
    best: bool
    size: int


@dataclass(frozen=True, kw_only=True)
class Final(TrainingEvent):
    """Validation of the best weights after training: not another epoch."""

    TYPE: ClassVar[str] = "final"
    best_epoch: int | None
    metrics: dict[str, float]
    classes: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per class name, what Ultralytics' validation table shows: images, instances,
    precision, recall, mAP50, mAP50-95 (``Box-P``, ``mAP50``... as Ultralytics names
    them); empty from workers of earlier versions."""


@dataclass(frozen=True, kw_only=True)
class Ending(TrainingEvent):
    """Base of the events that end a worker: the run ended, or paused."""

    TERMINAL: ClassVar[bool] = True
    unstored: tuple[str, ...] = ()
    """What of the run did not reach the store, as keys under ``runs/<run-id>/``: files
    (``artifacts/train/weights/best.pt``), and ``events/<seq>.jsonl`` for the events from
    ``seq`` on (this one included). The store's copy of the run lacks them, the run's folder
    has them (the events in ``events.jsonl``)."""


@dataclass(frozen=True, kw_only=True)
class Finished(Ending):
    """Training ran all its epochs (or stopped early for lack of progress)."""

    TYPE: ClassVar[str] = "finished"
    epochs_done: int
    best_epoch: int | None
    weights: tuple[str, ...]
    early_stop: bool = False


@dataclass(frozen=True, kw_only=True)
class Stopped(Ending):
    """The user asked to finish now: the weights so far were validated and saved."""

    TYPE: ClassVar[str] = "stopped"
    epochs_done: int
    best_epoch: int | None
    weights: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Paused(Ending):
    """The user asked to pause: resuming continues after ``epochs_done``."""

    TYPE: ClassVar[str] = "paused"
    epochs_done: int
    resumable: bool
    """False when no epoch had finished: a resume then starts over."""


@dataclass(frozen=True, kw_only=True)
class Failed(Ending):
    """The run cannot go on; ``message`` is the real cause, as a user can act on it."""

    TYPE: ClassVar[str] = "failed"
    reason: str
    """A short category: ``dataset``, ``model``, ``out-of-memory``, ``device``, ``store``,
    ``checkpoint`` (a resume found none to continue from), ``killed``, ``crashed`` or
    ``error``."""
    message: str


EVENT_TYPES: dict[str, type[TrainingEvent]] = {
    kind.TYPE: kind
    for kind in (
        Preparing,
        Setup,
        Batch,
        Epoch,
        Checkpoint,
        Final,
        Finished,
        Stopped,
        Paused,
        Failed,
    )
}


@dataclass(frozen=True)
class Record:
    """One decoded line: its place in the stream, its event, and the line itself."""

    seq: int
    event: TrainingEvent
    line: str = field(default="", compare=False, repr=False)
    """The line as the worker wrote it (no newline): what is passed on to a follower on
    another machine, so that it reads the worker's own bytes, not a re-encoding."""


def encode(event: TrainingEvent, seq: int) -> str:
    """The line for ``event`` (no newline); JSON's C encoder keeps batches cheap."""
    body: dict[str, Any] = {"v": VERSION, "seq": seq, "type": event.TYPE}
    body.update(asdict(event))
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def decode(line: str) -> Record | None:
    """The record on ``line``; ``None`` for a blank line or an event type this reader lacks.

    Lines come from a worker on another machine, through a pipe, a log or the
    store: every field is checked against its event's type, and anything else
    is a :class:`ProtocolError`.
    """
    text = line.strip()
    if not text:
        return None
    try:
        body = schema.json_object(schema.load_json(text))
    except schema.SchemaError:
        raise ProtocolError(f"not an event line: {quoted(text[:80])}") from None
    if "type" not in body:
        raise ProtocolError(f"not an event line: {quoted(text[:80])}")
    if type(body.get("v")) is not int or body["v"] != VERSION:
        raise ProtocolError(
            f"the worker speaks event protocol version {quoted(body.get('v'))}, this Datayard "
            f"reads version {VERSION}: install the same Datayard version on both sides"
        )
    kind = EVENT_TYPES.get(body["type"]) if isinstance(body["type"], str) else None
    if kind is None:
        return None
    seq = body.get("seq", 0)
    try:
        if type(seq) is not int or seq < 0:
            raise schema.SchemaError("seq", f"is not a sequence number ({quoted(seq)})")
        return Record(seq, kind(**schema.checked_fields(kind, body)), line)
    except schema.SchemaError as problem:
        raise ProtocolError(f"a {kind.TYPE} event's {problem.field} {problem.problem}") from None
    except TypeError as error:
        raise ProtocolError(f"a {kind.TYPE} event is missing fields: {error}") from error
