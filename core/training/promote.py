"""A run's best weights as a model version, with the lineage that says where they came from.

A promoted model is what a team fine-tunes from and ships, so its version
records the run that made it, the exact dataset version, the spec, the final
validation's metrics and the smaller models exported from it: whoever picks it
later can tell what it is without the run's folder, which may be on another
machine or gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datayard.core.errors import StorageError, UsageError
from datayard.core.models.version import Lineage
from datayard.core.store.bucket import Bucket
from datayard.core.training.mirror import artifact_key
from datayard.core.training.protocol import Final, TrainingEvent
from datayard.core.training.runs import RunFolder, RunRecord, RunStatus, summarize
from datayard.core.training.stored_events import StoredEvents
from datayard.core.training.stored_runs import stored_record

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
            exports=self.exports,
        )


def local_result(folder: RunFolder) -> RunResult:
    """A run of this machine, from its folder: the exports made here come along."""
    exports = folder.path / "exports"
    made = sorted(exports.iterdir()) if exports.is_dir() else []
    return _checked(
        RunResult(
            folder.record(),
            folder.events(),
            folder.weights_dir / "best.pt",
            tuple({"file": path.name, "bytes": path.stat().st_size} for path in made),
        )
    )


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
