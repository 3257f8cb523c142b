"""A worker that starts from the store alone, as a pod does: ``datayard worker --from-store``.

A pod has the store's credentials (:func:`.credentials.from_environment`) and
nothing else of the run: no record, no events, no checkpoint, often an empty
folder for them. All of it is in the store, where the app wrote the record and
every worker of the run stored its events and results. So the run's folder is
made from there, under the pod's runs folder (:data:`RUNS_VARIABLE`): its
record from ``runs/<run-id>/spec.json``, its events from the stored chunks, so
that this worker numbers its events after them and the store's stream goes on
without a gap. What those events say decides how the worker goes on:

- none: the run starts;
- paused, or failed after a full epoch: it resumes from its checkpoint, which a
  new pod takes from the store (:func:`.worker._put_checkpoint_in_place`);
- failed before an epoch ended: it starts again;
- no ending (the last worker vanished: its pod was evicted, killed, or lost
  with its node, and the Job started another): that worker is recorded as
  failed, and the run resumes or starts again as a failed run does;
- finished or stopped: nothing is left to train, and the worker refuses.

Anything but a first start begins with a ``resuming`` event, so that whoever
follows the run sees it go on after its last ending. The app that resumes a run
on a cluster stores that event (and the failure of a worker that vanished)
before it submits the new Job: a worker that finds it last goes on from there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from datayard.core.errors import UsageError
from datayard.core.paths import AppDirs
from datayard.core.store.bucket import Bucket
from datayard.core.training.protocol import RESUMING, Failed, Preparing
from datayard.core.training.runs import EventLog, RunFolder, RunRegistry, RunStatus
from datayard.core.training.spec import RUN_ID
from datayard.core.training.stored_events import StoredEvents
from datayard.core.training.stored_runs import stored_record

RUNS_VARIABLE = "DATAYARD_RUNS"
"""The folder that holds the pod's run folders; the data folder's ``runs`` when not set."""
CACHE_VARIABLE = "DATAYARD_CACHE"
"""The folder of the dataset cache (a volume kept between pods), when set."""


@dataclass(frozen=True)
class StoreStart:
    """A run's folder made from the store, and how its worker goes on."""

    folder: RunFolder
    resume: bool
    unstored_from: int
    """The first event the store lacks: this worker stores the folder's events from there."""


def runs_root(dirs: AppDirs) -> Path:
    return Path(os.environ.get(RUNS_VARIABLE) or dirs.data / "runs")


def cache_root() -> Path | None:
    cache = os.environ.get(CACHE_VARIABLE)
    return Path(cache) if cache else None


def check_run_id(run_id: str) -> None:
    """The id names the run's keys and its folder: only an id as the registry makes them."""
    if not RUN_ID.fullmatch(run_id):
        raise UsageError(f"{run_id!r} is not a run id (like 20261123-101500-1a2b3c)")


def start_from_store(bucket: Bucket, run_id: str, root: Path) -> StoreStart:
    """The run's folder under ``root``, made or brought up to date from the store."""
    check_run_id(run_id)
    record = stored_record(bucket, run_id)
    registry = RunRegistry(root)
    try:
        folder = registry.add(record)
    except FileExistsError:  # a volume kept from an earlier pod of the run
        folder = RunFolder(registry.root / run_id)
    stored = list(StoredEvents(bucket, run_id).since(0))
    unstored_from = stored[-1].seq + 1 if stored else 0
    here = folder.next_seq()
    with folder.events_file.open("a", encoding="utf-8") as events:
        events.writelines(f"{r.line}\n" for r in stored if r.seq >= here)
    if folder.next_seq() == 0:
        return StoreStart(folder, resume=False, unstored_from=0)
    summary = folder.summary()
    if _resuming(folder):  # stored by the app that submitted this worker's Job
        return StoreStart(folder, resume=summary.resumable, unstored_from=unstored_from)
    if summary.status in (RunStatus.FINISHED, RunStatus.STOPPED):
        raise UsageError(
            f"run {run_id} is {summary.status.value}: nothing is left to train; "
            f"`datayard train --clone {run_id}` trains it anew"
        )
    if not summary.status.ended:
        folder.append(
            Failed(
                reason="crashed",
                message="its worker ended without reporting a result (its pod evicted, killed "
                "or out of memory, or its node lost?); another worker takes the run over",
            )
        )
        summary = folder.summary()
    folder.append(Preparing(phase=RESUMING))
    return StoreStart(folder, resume=summary.resumable, unstored_from=unstored_from)


def _resuming(folder: RunFolder) -> bool:
    """Whether the run's last event is a ``resuming``: this worker's start, told already."""
    records = EventLog(folder.events_file).read_new()
    last = records[-1].event if records else None
    return isinstance(last, Preparing) and last.phase == RESUMING
