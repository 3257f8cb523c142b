"""A run's best weights as a model version, with the lineage that says where they came from.

A promoted model is what a team fine-tunes from and ships, so its version
records the run that made it, the exact dataset version, the spec, the final
validation's metrics and the smaller models exported from it: whoever picks it
later can tell what it is without the run's folder, which may be on another
machine or gone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datayard.core.errors import StorageError, UsageError
from datayard.core.events import CancelToken, Finished, Waiting, run_to_end
from datayard.core.models.store import add_model
from datayard.core.models.version import Lineage, ModelRef, ModelVersion
from datayard.core.paths import AppDirs
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.core.training.export import made_exports
from datayard.core.training.mirror import artifact_key
from datayard.core.training.protocol import Final, TrainingEvent
from datayard.core.training.runs import RunFolder, RunRecord, RunStatus, summarize
from datayard.core.training.stored_events import StoredEvents
from datayard.core.training.stored_runs import stored_record
from datayard.core.training.weights_facts import weights_facts

PROMOTABLE = (RunStatus.FINISHED, RunStatus.STOPPED)
"""Runs whose best weights were validated at their end: a paused or failed run's are not."""
BEST = "train/weights/best.pt"


@dataclass(frozen=True)
class RunResult:
    """What a promotion needs of a run: its record, its events and its best weights."""

    record: RunRecord
    events: list[TrainingEvent]
    weights: Path
    exports: tuple[dict[str, Any], ...] = ()

    def lineage(self) -> Lineage:
        finals = [event for event in self.events if isinstance(event, Final)]
        return Lineage(
            run=self.record.run_id,
            dataset=self.record.dataset,
            spec=self.record.spec.to_dict(),
            metrics=dict(finals[-1].metrics) if finals else {},
            classes=dict(finals[-1].classes) if finals else {},
            exports=self.exports,
        )


def promote(
    result: RunResult,
    bucket: Bucket,
    ref: ModelRef,
    dirs: AppDirs,
    *,
    message: str = "",
    cancel: CancelToken | None = None,
) -> Generator[Waiting | Finished[ModelVersion], None, None]:
    """Store the run's best weights as the newest version of ``ref``'s model, with the
    run's lineage; what they are is read first, in a child process."""
    facts = weights_facts(result.weights, dirs, cancel)
    yield from add_model(
        bucket,
        result.weights,
        facts,
        ref,
        source=f"run:{result.record.run_id}",
        lineage=result.lineage(),
        message=message,
        cancel=cancel,
    )


def promote_run(
    folder: RunFolder,
    name: str,
    workspace: Workspace,
    *,
    trained_here: bool,
    message: str = "",
    cancel: CancelToken | None = None,
) -> ModelVersion:
    """Promote the run of ``folder`` (read from it when it ``trained_here``, else from the
    store its record names) to the model ``name`` in that store: the app's one call."""
    connection = workspace.connect(folder.record().spec.profile)
    bucket = Bucket(connection.profile, connection.secret)
    ref = ModelRef.to_add_to(name, workspace.settings().owner)
    with tempfile.TemporaryDirectory(prefix="datayard-promote-") as scratch:
        here = folder if trained_here else None
        result = result_of(here, folder.run_id, bucket, Path(scratch))
        promoting = promote(result, bucket, ref, workspace.dirs, message=message, cancel=cancel)
        return run_to_end(promoting, ModelVersion)


def result_of(folder: RunFolder | None, run_id: str, bucket: Bucket, scratch: Path) -> RunResult:
    """The run from its folder (``folder``: a run that trained on this computer), else from
    the store, its weights fetched into ``scratch``."""
    return local_result(folder) if folder is not None else stored_result(bucket, run_id, scratch)


def local_result(folder: RunFolder) -> RunResult:
    """A run of this machine, from its folder: the exports made here come along."""
    best = folder.weights_dir / "best.pt"
    return _checked(RunResult(folder.record(), folder.events(), best, made_exports(folder)))


def stored_result(bucket: Bucket, run_id: str, scratch: Path) -> RunResult:
    """A run launched anywhere, from the store's copy; its weights are fetched to ``scratch``."""
    record = stored_record(bucket, run_id)
    events = [stored.event for stored in StoredEvents(bucket, run_id).since(0)]
    weights = scratch / "best.pt"
    _check_status(record, events)
    try:
        bucket.get_file(artifact_key(run_id, BEST), weights)
    except StorageError as error:
        raise UsageError(f"the store has no best weights of run {run_id}: {error}") from error
    return RunResult(record, events, weights)


def _checked(result: RunResult) -> RunResult:
    _check_status(result.record, result.events)
    if not result.weights.is_file():
        raise UsageError(f"run {result.record.run_id} has no best weights ({result.weights})")
    return result


def _check_status(record: RunRecord, events: list[TrainingEvent]) -> None:
    status = summarize(events, record.spec.epochs).status
    if status not in PROMOTABLE:
        raise UsageError(
            f"run {record.run_id} is {status.value}: only a finished or stopped run's best "
            "weights were validated, and can become a model"
        )
