"""The training worker: one process per run, the same on every backend.

It pulls the run's dataset version into a local cache (verified by sha256),
trains with Ultralytics offline, and reports through the event protocol on
its own copy of stdout; everything else that would write to stdout (progress
bars, prints) is moved to stderr, so the event stream stays parseable. Every
ending, including a crash of the training code, is reported as a terminal
event, and events and results are mirrored to the store as they happen.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from filelock import FileLock

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.pull import pull
from datayard.core.errors import DatayardError, StorageError
from datayard.core.events import FileFailed, Finished, Transfer
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Connection, Workspace
from datayard.core.training import offline
from datayard.core.training.base_models import resolve_model
from datayard.core.training.mirror import Mirror, artifact_key
from datayard.core.training.protocol import (
    Checkpoint,
    Ending,
    Epoch,
    Failed,
    Paused,
    Preparing,
    Stopped,
    TrainingEvent,
    encode,
)
from datayard.core.training.protocol import Finished as TrainingFinished
from datayard.core.training.runs import Control, EventLog, RunFolder, RunRecord
from datayard.core.training.stored_control import ControlWatch

log = logging.getLogger(__name__)

_CONNECTIONS = 8
CHECKPOINT_INTERVAL_S = 60.0
"""Weights are stored at most this often while training, and always at the end: storing
every checkpoint of short epochs costs the training more CPU (hashing and sending tens of
MB each) than a minute-old copy in the store would save anyone."""


def take_stdout() -> TextIO:
    """A private stream to the real stdout; fd 1 and ``sys.stdout`` now lead to stderr."""
    sys.stdout.flush()
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return events


def take_stdin() -> bytes:
    """All of stdin, whose pipe is then closed: fd 0 leads to the null device from here on,
    so nothing the worker runs can read what came through it (a secret)."""
    raw = sys.stdin.buffer.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return raw


class Emitter:
    """Numbers events, writes them as lines, and hands them to the mirror."""

    def __init__(self, out: TextIO, first_seq: int, folder: RunFolder) -> None:
        self.out = out
        self.seq = first_seq
        self.folder = folder
        self.mirror: Mirror | None = None
        self.store_wait_s = 0.0
        """How long the run's end waits for the store (its spec's ``store_wait``)."""
        self._stored_at: dict[str, float] = {}

    def __call__(self, event: TrainingEvent) -> None:
        if isinstance(event, Ending) and self.mirror is not None:
            event = self._stored(event, self.mirror)
        line = encode(event, self.seq)
        self.out.write(line + "\n")
        self.out.flush()
        if self.mirror is not None:
            self.mirror.add_line(self.seq, line)
            self._mirror_files(event)
        self.seq += 1

    def _stored(self, event: Ending, mirror: Mirror) -> Ending:
        """``event`` once the run's results are stored, naming what the store lacks.

        A run that the store failed (its dataset could not be pulled) does not wait for it.
        """
        _mirror_results(mirror, self.folder)
        failed_by_store = isinstance(event, Failed) and event.reason == "store"
        mirror.wait(0.0 if failed_by_store else self.store_wait_s)
        unstored = mirror.unstored()
        if not unstored:
            return event
        log.warning("not in the store: %s", ", ".join(unstored))
        return dataclasses.replace(event, unstored=unstored)

    def _mirror_files(self, event: TrainingEvent) -> None:
        assert self.mirror is not None
        if isinstance(event, Checkpoint):
            now = time.monotonic()
            if now - self._stored_at.get(event.path, -math.inf) >= CHECKPOINT_INTERVAL_S:
                self._stored_at[event.path] = now
                self.mirror.add_file(self.folder.path / event.path, event.path, snapshot=True)
        elif isinstance(event, Epoch):
            results = self.folder.train_dir / "results.csv"
            if results.is_file():
                relative = results.relative_to(self.folder.path).as_posix()
                self.mirror.add_file(results, relative, snapshot=True)


def run(
    folder: RunFolder,
    out: TextIO,
    *,
    resume: bool = False,
    workspace: Workspace,
    connection: Connection | None = None,
    cache: Path | None = None,
    unstored_from: int | None = None,
) -> int:
    """Train the run in ``folder``; the exit status is 0 unless it failed.

    The store is reached through ``connection`` when one is given (a training host's
    worker is handed it, see :mod:`.credentials`), else through the workspace's profile
    that the run's spec names. Datasets and earlier runs' weights are kept in ``cache``
    (a pod's volume), else in the workspace's cache, which has Ultralytics' folder.
    The folder's events from ``unstored_from`` on are stored first; when not given, those
    after the last worker's ending (see :func:`_mirror_since_last_worker`).

    Stop and pause requests come from the run's control file and from the store
    (:mod:`.stored_control`), whichever comes first.
    """
    record = folder.record()
    emit = Emitter(out, folder.next_seq(), folder)
    _log_to(folder.log_file)
    folder.clear_request()
    offline.prepare(workspace.dirs.cache / "ultralytics")
    _preload_ultralytics()
    watch: ControlWatch | None = None
    try:
        if connection is None:
            connection = workspace.connect(record.spec.profile)
        bucket = Bucket(connection.profile, connection.secret, connections=_CONNECTIONS)
        emit.mirror = Mirror(bucket, record.run_id, folder.mirror_dir)
        emit.store_wait_s = record.spec.store_wait
        emit.mirror.put_text("spec.json", record.to_json())
        _mirror_since_last_worker(folder, emit.mirror, unstored_from)
        watch = ControlWatch(bucket, record.run_id)
        if resume:
            _put_checkpoint_in_place(folder, bucket, emit)
        cache = cache or workspace.dirs.cache
        data_yaml = _prepare_dataset(bucket, record, workspace, cache, emit)
        model = resolve_model(record.spec.model, bucket, cache, workspace.settings().owner)
        return _train(
            folder,
            record,
            emit,
            data_yaml=data_yaml,
            model=model,
            resume=resume,
            requested=_requests(folder, watch),
        )
    except DatayardError as error:
        reason = getattr(error, "reason", "store" if isinstance(error, StorageError) else "error")
        emit(Failed(reason=reason, message=str(error)))
        return 1
    except Exception as error:
        log.exception("the worker crashed")
        emit(Failed(reason="crashed", message=f"{type(error).__name__}: {error}"))
        return 1
    finally:
        if watch is not None:
            watch.close()
        if emit.mirror is not None:
            emit.mirror.close()


def _requests(folder: RunFolder, watch: ControlWatch) -> Callable[[], Control | None]:
    """The user's request, from the run's control file or from the store."""
    return lambda: folder.requested() or watch.requested()


def refuse(folder: RunFolder, out: TextIO, error: DatayardError) -> None:
    """A run the worker cannot even start (its credentials unreadable) ends as every run
    does, with a terminal event: whoever follows it learns why."""
    Emitter(out, folder.next_seq(), folder)(Failed(reason="error", message=str(error)))


def _train(
    folder: RunFolder,
    record: RunRecord,
    emit: Emitter,
    *,
    data_yaml: Path,
    model: str,
    resume: bool,
    requested: Callable[[], Control | None],
) -> int:
    from . import yolo  # torch and Ultralytics load here, after the offline setup

    _settle_ultralytics()
    last = folder.weights_dir / "last.pt"
    hooks = yolo.Hooks(
        emit,
        run_id=record.run_id,
        dataset=record.dataset,
        model=record.spec.model,
        requested=requested,
    )
    try:
        outcome = yolo.train(
            hooks,
            model=model,
            task=record.spec.task,
            data=data_yaml,
            save_dir=folder.train_dir,
            arguments=record.spec.arguments(),
            resume_from=last if resume and last.is_file() else None,
        )
    except yolo.PauseRequested:
        done = hooks.state.epochs_done
        emit(Paused(epochs_done=done, resumable=done > 0 and last.is_file()))
        return 0
    weights = tuple(p.relative_to(folder.path).as_posix() for p in outcome.weights)
    if outcome.stopped:
        emit(
            Stopped(epochs_done=outcome.epochs_done, best_epoch=outcome.best_epoch, weights=weights)
        )
    else:
        emit(
            TrainingFinished(
                epochs_done=outcome.epochs_done,
                best_epoch=outcome.best_epoch,
                weights=weights,
                early_stop=outcome.epochs_done < outcome.epochs,
            )
        )
    return 0


def _put_checkpoint_in_place(folder: RunFolder, bucket: Bucket, emit: Emitter) -> None:
    """Make the run's last.pt the checkpoint a resumed run continues from: its own when it is
    one, else the store's copy (up to :data:`CHECKPOINT_INTERVAL_S` older), for a machine
    that lost the file (a deleted folder, a half-written file from a worker killed while
    saving). Done before the dataset is pulled, so a run with no checkpoint fails at once.

    A run that had finished no epoch has no checkpoint: it starts over.
    """
    if folder.summary().epochs_done == 0:
        return
    from . import yolo

    last = folder.weights_dir / "last.pt"
    relative = last.relative_to(folder.path).as_posix()
    problem = yolo.checkpoint_problem(last, folder.run_id) if last.is_file() else "is missing"
    if problem is None:
        return
    log.warning("the run's %s %s: resuming from the store's copy", relative, problem)
    emit(Preparing(phase="fetching the checkpoint"))
    key = artifact_key(folder.run_id, relative)
    stored_problem = _fetch_checkpoint(bucket, key, last, folder.run_id)
    if stored_problem is not None:
        raise yolo.TrainingError(
            "checkpoint",
            f"run {folder.run_id} has no checkpoint to resume from: its {relative} {problem} "
            f"and {stored_problem}; start it again with `datayard train --clone {folder.run_id}`",
        )


def _fetch_checkpoint(bucket: Bucket, key: str, last: Path, run_id: str) -> str | None:
    """The store's copy at ``key`` put in place as ``last``, once checked; else what is wrong
    with it (a store is written by many: a copy may be anything)."""
    from . import yolo

    if bucket.stat(key) is None:
        return f"the store has no copy ({key})"
    fetched = last.with_name(f"stored-{last.name}")
    fetched.parent.mkdir(parents=True, exist_ok=True)
    bucket.get_file(key, fetched)
    problem = yolo.checkpoint_problem(fetched, run_id)
    if problem is not None:
        fetched.unlink()
        return f"the store's copy ({key}) {problem}"
    os.replace(fetched, last)
    return None


def _preload_ultralytics() -> None:
    """Importing torch and Ultralytics takes seconds: let it happen while the dataset is checked.

    A failed import here is left for the import in ``_train`` to report.
    """

    def load() -> None:
        try:
            importlib.import_module("ultralytics")
        except Exception:
            log.debug("preloading Ultralytics failed", exc_info=True)

    threading.Thread(target=load, name="preload-ultralytics", daemon=True).start()


def dataset_cache(cache: Path, manifest: Manifest) -> Path:
    """Where runs on this machine find a version: pulled once, shared by its runs."""
    return cache / "datasets" / manifest.owner / manifest.name / manifest.id


def _prepare_dataset(
    bucket: Bucket, record: RunRecord, workspace: Workspace, cache: Path, emit: Emitter
) -> Path:
    ref = DatasetRef.parse(record.dataset, workspace.settings().owner)
    manifest = Catalog(bucket).version(ref)
    target = dataset_cache(cache, manifest)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two runs on one version share its cache: the second waits for the first pull.
    with FileLock(target.with_name(f"{target.name}.lock")):
        events = pull(
            bucket,
            manifest,
            target,
            workers=_CONNECTIONS,
            database=workspace.dirs.database,
        )
        result = None
        for event in _reported(events, emit):
            if isinstance(event, Finished):
                result = event.result
    assert result is not None
    result.check_complete("training did not start")
    return Path(result.data_yaml)


def _reported(events: Iterable[object], emit: Emitter) -> Iterable[object]:
    for event in events:
        if isinstance(event, Transfer):
            emit(Preparing(phase="pulling dataset", done=event.files_done, total=event.files_total))
        elif isinstance(event, FileFailed):
            log.warning("could not pull %s: %s", event.path, event.error)
        yield event


def _mirror_since_last_worker(folder: RunFolder, mirror: Mirror, unstored_from: int | None) -> None:
    """The events the store lacks reach it before this worker's, so the store's stream has
    no gap: those from ``unstored_from`` on, else those after the last worker's ending (a
    resume's "resuming", which the backend writes)."""
    records = EventLog(folder.events_file).read_new()
    if unstored_from is None:
        ended = max((i for i, r in enumerate(records) if r.event.TERMINAL), default=-1)
        unstored_from = records[ended].seq + 1 if ended >= 0 else 0
    for record in records:
        if record.seq >= unstored_from:
            mirror.add_line(record.seq, record.line)


def _mirror_results(mirror: Mirror, folder: RunFolder) -> None:
    """Everything Ultralytics left in the run's folder, and the worker's log."""
    if folder.train_dir.is_dir():
        for path in sorted(folder.train_dir.rglob("*")):
            if path.is_file():
                mirror.add_file(path, path.relative_to(folder.path).as_posix())
    if folder.log_file.is_file():
        mirror.add_file(folder.log_file, folder.log_file.name, snapshot=True)


def _log_to(path: Path) -> None:
    """This worker's log and Ultralytics' (which does not propagate) go to the run's log file.

    Ultralytics' console output stays on stderr through its own handler.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
    logging.getLogger("ultralytics").addHandler(handler)


def _settle_ultralytics() -> None:
    """Ultralytics' settings file is written at import: switch off what would go online."""
    from ultralytics.utils import SETTINGS

    SETTINGS.update(offline.SETTINGS)
