"""Runs on this machine: one folder each, which is also the run registry.

A run's folder holds what was launched (``run.json``), the event stream the
worker wrote (``events.jsonl``, append-only), the worker's log, the control
file through which stop and pause requests reach it, Ultralytics' own
output under ``train/``, and while a worker runs, what its mirror still has to
store (``mirror/``). Keeping the registry in the folders, not in a
database, means two workers never contend for a lock and a run stays readable
with nothing but a text editor; the append-only events are the single truth
from which every status is derived.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from filelock import FileLock

from datayard.core import schema
from datayard.core.atomic import write_atomically
from datayard.core.errors import DatayardError, InvalidStoreObjectError, UsageError, quoted
from datayard.core.training.protocol import (
    Ending,
    Epoch,
    Failed,
    Final,
    Finished,
    Paused,
    ProtocolError,
    Record,
    Setup,
    Stopped,
    TrainingEvent,
    decode,
    encode,
)
from datayard.core.training.run_names import check_run_name, next_name
from datayard.core.training.spec import RUN_ID, SpecError, TrainSpec

RUN_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
COPY_LOCK_FILE = "events.lock"
"""Held by a follower while it appends to a copy of a run's events (:class:`EventCopy`)."""
CONTROL_FILE = "control"
PID_FILE = "worker.pid"
LOG_FILE = "worker.log"
OUTPUT_FILE = "worker.out"
TRAIN_DIR = "train"
MIRROR_DIR = "mirror"
EXPORTS_DIR = "exports"
EXPORT_SCORES_FILE = "exports.json"
MAP_KEY = "mAP50-95"
MAX_GPUS = 64
"""The most GPUs one run's pod may ask for."""


class Control(StrEnum):
    """What a user asked a running worker to do; written to its control file."""

    STOP = "stop"
    PAUSE = "pause"


class RunStatus(StrEnum):
    PREPARING = "preparing"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    PAUSED = "paused"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self not in (RunStatus.PREPARING, RunStatus.RUNNING)


@dataclass(frozen=True)
class RunRecord:
    """What was launched, where, from which dataset version."""

    run_id: str
    spec: TrainSpec
    dataset: str
    """The exact version trained on, ``owner/name@version``."""
    backend: str
    launched_at: str
    cloned_from: str | None = None
    gpus: int = 0
    """GPUs of the cluster's GPU resource its pod asks for (a run on a cluster): a resumed
    run's new Job asks for as many."""
    name: str = ""
    """What people call it (``street-yolo11n-3``, :mod:`.run_names`); empty in the records of
    earlier versions, whose runs go by their id."""

    @property
    def label(self) -> str:
        """The run's name, or its id when it has none."""
        return self.name or self.run_id

    def to_json(self) -> str:
        body = {
            "run_id": self.run_id,
            "name": self.name,
            "dataset": self.dataset,
            "backend": self.backend,
            "launched_at": self.launched_at,
            "cloned_from": self.cloned_from,
            "gpus": self.gpus,
            "spec": self.spec.to_dict(),
        }
        return json.dumps(body, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes, where: str) -> RunRecord:
        """The record in ``raw``, read from ``where`` (a file, or the run's spec.json in the
        store, which anyone may have written): checked in full, or
        :class:`InvalidStoreObjectError` naming ``where`` and the field."""
        try:
            return cls.from_dict(schema.json_object(schema.load_json(raw)))
        except schema.SchemaError as problem:
            raise InvalidStoreObjectError(where, problem.field, problem.problem) from None

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> RunRecord:
        """The record in ``body``, part of a larger document; else :class:`SchemaError`.

        The run id names the run's folder and its keys in the store: nothing but an id
        as the registry makes them passes (``../x`` would name a folder outside).
        """
        return cls(
            run_id=schema.matching(body, "run_id", RUN_ID, "a run id"),
            spec=_spec(schema.json_object(schema.member(body, "spec"), "spec")),
            dataset=schema.text(body, "dataset"),
            backend=schema.text(body, "backend"),
            launched_at=schema.text(body, "launched_at"),
            cloned_from=schema.optional_text(body, "cloned_from"),
            # Absent from the records of earlier versions, which asked for no GPU count.
            gpus=schema.integer(body, "gpus", 0, MAX_GPUS) if "gpus" in body else 0,
            name=_name(body),
        )


def _name(body: dict[str, Any]) -> str:
    if body.get("name") in (None, ""):
        return ""
    name = schema.text(body, "name")
    try:
        return check_run_name(name)
    except UsageError:
        raise schema.SchemaError("name", f"is not a run name ({quoted(name)})") from None


def _spec(data: dict[str, Any]) -> TrainSpec:
    """The spec of a record; fields this version does not know (a newer Datayard's) are
    left out, as records are written by Datayard, not typed by people."""
    known = {field.name for field in fields(TrainSpec)}
    try:
        return TrainSpec.from_dict({name: value for name, value in data.items() if name in known})
    except SpecError as error:
        field, problem = next(iter(error.problems.items()))
        raise schema.SchemaError(f"spec.{field}", problem) from None


@dataclass(frozen=True)
class RunSummary:
    """A run's state as its events tell it: what ``datayard runs`` and the runs list show."""

    status: RunStatus
    epochs_done: int
    epochs: int
    best_map: float | None
    best_epoch: int | None
    started: float | None
    ended: float | None
    message: str = ""
    """Why it failed, or whether a pause can be resumed; and what the store lacks."""
    unstored: tuple[str, ...] = ()
    """The run's files that did not reach the store (see :class:`Ending`)."""
    reason: str = ""
    """Why a failed run failed, in one word (:attr:`Failed.reason`: ``crashed``, ``killed``...)."""

    @property
    def label(self) -> str:
        """The status as lists show it: a run whose files the store lacks says so."""
        if not self.unstored:
            return self.status.value
        count = len(self.unstored)
        return f"{self.status.value}, {count} file{'' if count == 1 else 's'} not stored"

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or datetime.now(UTC).timestamp()) - self.started

    @property
    def resumable(self) -> bool:
        """Whether ``resume`` continues the run: a paused one (from the start when no epoch
        had ended), or a failed one that had finished an epoch, whose checkpoint a new worker
        continues from (the run's own, else the store's copy). A run that failed before
        that has no checkpoint; a finished or stopped one has no optimizer state left."""
        if self.status is RunStatus.FAILED:
            return self.epochs_done > 0
        return self.status is RunStatus.PAUSED


def check_resumable(run_id: str, summary: RunSummary) -> None:
    """:class:`UsageError` saying why the run does not resume, and what to do instead."""
    if summary.resumable:
        return
    if summary.status is RunStatus.FAILED:
        raise UsageError(
            f"run {run_id} failed before its first epoch ended ({summary.reason}): it has no "
            f"checkpoint to resume from; start it again with `datayard train --clone {run_id}`"
        )
    raise UsageError(
        f"run {run_id} is {summary.status.value}: only a paused run, or a failed one that had "
        f"finished an epoch, resumes; `datayard train --clone {run_id}` trains it anew"
    )


def summarize(events: Iterable[TrainingEvent], planned_epochs: int) -> RunSummary:
    """Fold a run's events into its summary; the last terminal event decides the status."""
    fold = SummaryFold(planned_epochs)
    for event in events:
        fold.add(event)
    return fold.summary()


class SummaryFold:
    """A run's summary, folded one event at a time: a live run's row follows its events
    as they come, without reading the run's file again."""

    def __init__(self, planned_epochs: int) -> None:
        self.status = RunStatus.PREPARING
        self.epochs_done = 0
        self.epochs = planned_epochs
        self.best: tuple[float, int] | None = None
        self.started: float | None = None
        self.ended: float | None = None
        self.message = self.reason = ""
        self.unstored: tuple[str, ...] = ()

    def add(self, event: TrainingEvent) -> None:
        if self.started is None:
            self.started = event.time
        if isinstance(event, Setup):  # a start, or a resume after an ending
            self.status, self.epochs = RunStatus.RUNNING, event.epochs
            self.ended, self.message, self.unstored = None, "", ()
        elif isinstance(event, Epoch):
            self.status = RunStatus.RUNNING
            self.epochs_done = max(self.epochs_done, event.epoch)
            value = event.metrics.get(MAP_KEY)
            if value is not None and (self.best is None or value > self.best[0]):
                self.best = (value, event.epoch)
        elif isinstance(event, Final) and event.metrics.get(MAP_KEY) is not None:
            best_epoch = event.best_epoch or (self.best[1] if self.best else 0)
            self.best = (event.metrics[MAP_KEY], best_epoch)
        elif isinstance(event, Ending):
            self._end(event)

    def _end(self, event: Ending) -> None:
        self.ended, self.unstored = event.time, event.unstored
        if isinstance(event, Finished):
            self.status = RunStatus.FINISHED
        elif isinstance(event, Stopped):
            self.status = RunStatus.STOPPED
        elif isinstance(event, Paused):
            self.status = RunStatus.PAUSED
            self.epochs_done = event.epochs_done
            self.message = (
                f"resumes after epoch {event.epochs_done}"
                if event.resumable
                else "no epoch had finished: resuming starts over"
            )
        elif isinstance(event, Failed):
            self.status, self.message, self.reason = RunStatus.FAILED, event.message, event.reason
        if self.unstored:
            self.message = "\n".join(filter(None, (self.message, unstored_note(self.unstored))))

    def summary(self) -> RunSummary:
        return RunSummary(
            status=self.status,
            epochs_done=self.epochs_done,
            epochs=self.epochs,
            best_map=self.best[0] if self.best else None,
            best_epoch=self.best[1] if self.best else None,
            started=self.started,
            ended=self.ended,
            message=self.message,
            unstored=self.unstored,
            reason=self.reason,
        )


def unstored_note(unstored: tuple[str, ...]) -> str:
    """What to tell a user whose run the store lacks files of."""
    return (
        f"not in the store, only in the run's folder on the machine that trained it: "
        f"{', '.join(unstored)}"
    )


class EventLog:
    """Reads a growing events file; each call returns the lines completed since the last.

    A line still being written (no newline yet) is left for the next call, so
    a reader never parses half an event. Lines end at a newline only: an event's
    text may hold other line breaks (U+2028, NEL), which JSON leaves as they are.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.skipped = 0
        """Lines that were not events (a worker's stray output): counted, not fatal."""

    def read_new(self) -> list[Record]:
        try:
            with self.path.open("rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        records = []
        for line in data[:end].decode("utf-8", errors="replace").split("\n")[:-1]:
            try:
                record = decode(line)
            except ProtocolError:
                if line.lstrip().startswith('{"v"'):
                    raise
                self.skipped += 1
                continue
            if record:
                records.append(record)
        return records


class RunFolder:
    """The files of one run on this machine."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def record_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def events_file(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def control_file(self) -> Path:
        return self.path / CONTROL_FILE

    @property
    def pid_file(self) -> Path:
        return self.path / PID_FILE

    @property
    def log_file(self) -> Path:
        return self.path / LOG_FILE

    @property
    def output_file(self) -> Path:
        """The worker's stderr: Ultralytics' console output and any crash trace."""
        return self.path / OUTPUT_FILE

    @property
    def train_dir(self) -> Path:
        return self.path / TRAIN_DIR

    @property
    def weights_dir(self) -> Path:
        return self.train_dir / "weights"

    @property
    def exports_dir(self) -> Path:
        """The smaller models ``datayard export`` made of the best weights."""
        return self.path / EXPORTS_DIR

    @property
    def export_scores_file(self) -> Path:
        """Each export's size and validation scores, by file name."""
        return self.path / EXPORT_SCORES_FILE

    @property
    def mirror_dir(self) -> Path:
        """The worker's snapshots and events waiting for the store: beside the run, on its
        disk, rather than in a temporary folder that may live in memory."""
        return self.path / MIRROR_DIR

    def record(self) -> RunRecord:
        return RunRecord.from_json(self.record_file.read_bytes(), str(self.record_file))

    def events(self) -> list[TrainingEvent]:
        return [record.event for record in EventLog(self.events_file).read_new()]

    def next_seq(self) -> int:
        """The sequence number a resumed worker continues from."""
        return _next_seq(self.events_file)

    def summary(self) -> RunSummary:
        return summarize(self.events(), self.record().spec.epochs)

    def append(self, event: TrainingEvent) -> None:
        """Add an event that no worker will write (the run was killed, or is resuming)."""
        with self.events_file.open("a", encoding="utf-8") as stream:
            stream.write(encode(event, self.next_seq()) + "\n")

    def request(self, control: Control) -> None:
        """Ask the worker to stop or pause at its next batch."""
        write_atomically(self.control_file, control.value.encode())

    def requested(self) -> Control | None:
        try:
            text = self.control_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return Control(text) if text in Control._value2member_map_ else None

    def clear_request(self) -> None:
        self.control_file.unlink(missing_ok=True)

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text(encoding="utf-8").split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def started_on(self) -> str | None:
        """The machine (and boot) the worker was started on, as the pid file says."""
        try:
            words = self.pid_file.read_text(encoding="utf-8").split()
        except FileNotFoundError:
            return None
        return words[1] if len(words) > 1 else None


class EventCopy:
    """This machine's copy of a run's events that train elsewhere (a host's, the store's),
    kept by as many followers as follow the run here at once (two app windows, the app
    and ``logs --follow``). Each follower has its own :class:`EventCopy`: it is told
    whether an event is the next one it has not seen, and appends the event's line to
    the file only when the file lacks it, under the file's lock, so that every event is
    in the file once and in order whichever follower is first."""

    def __init__(self, folder: RunFolder) -> None:
        self.events_file = folder.events_file
        self._lock = FileLock(folder.path / COPY_LOCK_FILE)
        self.next_seq = folder.next_seq()
        """The next event this follower has not seen."""
        self._file_seq = self.next_seq
        """The next event the file lacks, as of :attr:`_file_size`."""
        self._file_size = self._size()

    def take(self, record: Record) -> bool:
        """Whether ``record`` is this follower's next event; if it is and the file lacks
        it, its line (the worker's own bytes) is appended."""
        if record.seq != self.next_seq:
            return False
        with self._lock:
            if self._size() != self._file_size:  # another follower appended
                self._file_seq = _next_seq(self.events_file)
            if record.seq == self._file_seq:
                with self.events_file.open("a", encoding="utf-8") as stream:
                    stream.write(record.line + "\n")
                self._file_seq += 1
            self._file_size = self._size()
        self.next_seq += 1
        return True

    def _size(self) -> int:
        try:
            return self.events_file.stat().st_size
        except FileNotFoundError:
            return 0


def _next_seq(events_file: Path) -> int:
    records = EventLog(events_file).read_new()
    return records[-1].seq + 1 if records else 0


def new_record(
    spec: TrainSpec,
    dataset: str,
    backend: str,
    *,
    cloned_from: str | None = None,
    gpus: int = 0,
    name: str = "",
) -> RunRecord:
    """The record of a run launched now, under a fresh id (a second's launches differ by
    their random part; :meth:`RunRegistry.create` tries again in the rare case they don't)."""
    now = datetime.now(UTC)
    return RunRecord(
        run_id=f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
        spec=spec,
        dataset=dataset,
        backend=backend,
        launched_at=now.isoformat(timespec="seconds"),
        cloned_from=cloned_from,
        gpus=gpus,
        name=name,
    )


class RunRegistry:
    """Every run launched from this machine, newest first."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(
        self, spec: TrainSpec, dataset: str, backend: str, *, cloned_from: str | None = None
    ) -> RunFolder:
        """A new folder with a fresh, unique id; two launches at once never share one."""
        name = self.next_name(spec, dataset)
        while True:
            try:
                record = new_record(spec, dataset, backend, cloned_from=cloned_from, name=name)
                return self.add(record)
            except FileExistsError:
                continue

    def next_name(self, spec: TrainSpec, dataset: str) -> str:
        """The name of the next run of ``spec`` on ``dataset``: one more than this
        machine's runs of the same dataset and model (see :mod:`.run_names`)."""
        return next_name(spec, dataset, self._names())

    def rename(self, folder: RunFolder, name: str) -> RunRecord:
        """Give the run ``name``, which no other run here has; return its new record."""
        check_run_name(name)
        others = self._names(leaving_out=folder.run_id)
        if name in others:
            raise UsageError(f"another run here is named {name!r}; choose another name")
        record = replace(folder.record(), name=name)
        write_atomically(folder.record_file, record.to_json().encode())
        return record

    def _names(self, leaving_out: str = "") -> set[str]:
        names = set()
        for folder in self.all():
            if folder.run_id == leaving_out:
                continue
            try:
                names.add(folder.record().name)
            except (DatayardError, OSError):
                continue  # a half-written or foreign folder names nothing
        return names

    def add(self, record: RunRecord) -> RunFolder:
        """The folder of a run launched elsewhere (a training host is given the record by
        the app); :class:`FileExistsError` when this registry has the run already."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / record.run_id
        path.mkdir(mode=0o700)
        folder = RunFolder(path)
        # Whole or absent: the app lists the runs while they are created.
        write_atomically(folder.record_file, record.to_json().encode())
        return folder

    def all(self) -> list[RunFolder]:
        if not self.root.is_dir():
            return []
        folders = [RunFolder(p) for p in self.root.iterdir() if (p / RUN_FILE).is_file()]
        return sorted(folders, key=lambda f: f.run_id, reverse=True)

    def get(self, run_id: str) -> RunFolder:
        """The run named by its id or a unique prefix of it; the newest for ``last``."""
        folder = self.find(run_id)
        if folder is None:
            raise UsageError(f"no run {run_id!r} on this machine; `datayard runs` lists them")
        return folder

    def find(self, run_id: str) -> RunFolder | None:
        """As :meth:`get`, but ``None`` when no run here has that id or prefix."""
        runs = self.all()
        if run_id == "last" and runs:
            return runs[0]
        exact = self.root / run_id
        if (exact / RUN_FILE).is_file():
            return RunFolder(exact)
        named = [f for f in runs if _named(f, run_id)]
        if named:
            return named[0]
        matches = [f for f in runs if f.run_id.startswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            return None
        raise UsageError(
            f"{run_id!r} matches {len(matches)} runs: give more of the id "
            f"({', '.join(f.run_id for f in matches[:3])}...)"
        )

    def __iter__(self) -> Iterator[RunFolder]:
        return iter(self.all())


def _named(folder: RunFolder, name: str) -> bool:
    try:
        return folder.record().name == name
    except (DatayardError, OSError):
        return False
