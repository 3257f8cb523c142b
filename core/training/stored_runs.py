"""Runs as the store has them: how any machine with the profile lists, follows, stops and
resumes a run that another machine or a cluster launched.

Every worker stores its run's record (``runs/<run-id>/spec.json``), its events
(see :mod:`.stored_events`) and its results, and obeys requests written there
(:mod:`.stored_control`). So a run that is not in this machine's registry is
still a run here: its status is folded from its stored events as a local run's
is from its file (:func:`.summarize`), and following it reads the store every
:data:`FOLLOW_INTERVAL_S`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from datayard.core.errors import DatayardError, InvalidStoreObjectError, UsageError, quoted
from datayard.core.events import CancelToken, check_cancel
from datayard.core.pool import run_parallel
from datayard.core.store.bucket import Bucket
from datayard.core.training.mirror import RUNS, events_key, run_key
from datayard.core.training.protocol import Record, TrainingEvent, encode
from datayard.core.training.runs import RunRecord, RunSummary, check_resumable, summarize
from datayard.core.training.spec import RUN_ID
from datayard.core.training.stored_events import StoredEvents

log = logging.getLogger(__name__)

FOLLOW_INTERVAL_S = 1.0
"""How often a follower reads the store: twice per :data:`.FLUSH_INTERVAL_S` at which a
worker stores its events, so that an event waits for a follower at most a second more
than for the store. A read that finds nothing new is one listing request."""
CLUSTER_PREFIX = "k8s:"
"""The backend of a run record made for a cluster: ``k8s:<cluster-name>``."""
SPEC_NAME = "spec.json"
READERS = 8
"""How many runs are read from the store at once."""


def cluster_named(backend: str) -> str | None:
    """The cluster of a run record's ``backend``; ``None`` for a run of a machine."""
    return backend.removeprefix(CLUSTER_PREFIX) if backend.startswith(CLUSTER_PREFIX) else None


def put_record(bucket: Bucket, record: RunRecord) -> None:
    """Store the run's record where its worker finds it (``--from-store``): written by
    whoever launches a run that trains from the store, before its worker starts."""
    bucket.put_bytes(
        run_key(record.run_id, SPEC_NAME),
        record.to_json().encode(),
        content_type="application/json",
    )


def has_record(bucket: Bucket, run_id: str) -> bool:
    return bucket.exists(run_key(run_id, SPEC_NAME))


def stored_record(bucket: Bucket, run_id: str) -> RunRecord:
    """The run's record in the store, checked in full: it must be the record of ``run_id``."""
    key = run_key(run_id, SPEC_NAME)
    found = bucket.get_with_etag(key)
    if found is None:
        raise UsageError(
            f"the store of profile {bucket.profile.name!r} has no run {run_id} ({key})"
        )
    record = RunRecord.from_json(found[0], key)
    if record.run_id != run_id:
        raise InvalidStoreObjectError(key, "run_id", f"names another run ({quoted(record.run_id)})")
    return record


@dataclass(frozen=True)
class StoredRun:
    """A run as the store tells it: its record, and its status from its stored events."""

    record: RunRecord
    summary: RunSummary
    next_seq: int
    """The sequence number of the next event, after those stored."""

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def where(self) -> str:
        return launched_where(self.record.backend)


def launched_where(backend: str) -> str:
    """Where a run of a record's ``backend`` trains, for a machine that did not launch it:
    a cluster by its name, anything else as launched from another machine."""
    return backend if cluster_named(backend) else f"{backend} (another machine)"


def stored_run(bucket: Bucket, run_id: str) -> StoredRun:
    record = stored_record(bucket, run_id)
    records = list(StoredEvents(bucket, run_id).since(0))
    events = [r.event for r in records]
    return StoredRun(record, summarize(events, record.spec.epochs), len(records))


def put_events(bucket: Bucket, run_id: str, events: list[TrainingEvent]) -> list[Record]:
    """Store ``events`` after the run's stored ones, in one chunk as a worker's mirror
    stores them: the events that the app tells for a worker of a cluster, while none runs
    (a resume, before the new Job's worker starts and goes on after it; the end of one
    whose Job was deleted, once its pod is gone), so that every machine and the run's
    next worker see them."""
    seq = sum(1 for _ in StoredEvents(bucket, run_id).since(0))
    records = [Record(seq + i, event, encode(event, seq + i)) for i, event in enumerate(events)]
    body = "".join(f"{record.line}\n" for record in records)
    bucket.put_bytes(events_key(run_id, seq), body.encode())
    return records


def run_ids(bucket: Bucket) -> list[str]:
    """The ids of the runs in the store, newest first (ids begin with their launch time)."""
    names = (name.removesuffix("/") for name in bucket.folders(RUNS))
    return sorted((name for name in names if RUN_ID.fullmatch(name)), reverse=True)


def find(bucket: Bucket, text: str) -> str:
    """The id of the stored run named by its id or a unique prefix of it."""
    if RUN_ID.fullmatch(text) and has_record(bucket, text):
        return text
    matches = [run_id for run_id in run_ids(bucket) if run_id.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(
            f"no run {text!r} on this machine or in the store; `datayard runs --all` lists them"
        )
    raise UsageError(
        f"{text!r} matches {len(matches)} runs in the store: give more of the id "
        f"({', '.join(matches[:3])}...)"
    )


def stored_runs(
    bucket: Bucket, *, leave_out: frozenset[str] = frozenset(), cancel: CancelToken | None = None
) -> list[StoredRun]:
    """Every run in the store but those of ``leave_out``, newest first. A run whose record
    is missing or unreadable is left out with a warning: anyone may write there."""

    def read(run_id: str) -> StoredRun | None:
        try:
            return stored_run(bucket, run_id)
        except DatayardError as error:
            log.warning("run %s in the store is left out: %s", run_id, error)
            return None

    wanted = [run_id for run_id in run_ids(bucket) if run_id not in leave_out]
    found = run_parallel(read, wanted, workers=READERS, cancel=cancel, name="stored-runs")
    runs = [run for run in found if run is not None]
    return sorted(runs, key=lambda run: run.run_id, reverse=True)


def follow(
    bucket: Bucket,
    run_id: str,
    cancel: CancelToken | None = None,
    *,
    from_seq: int = 0,
    interval_s: float = FOLLOW_INTERVAL_S,
    quiet: Callable[[int], None] | None = None,
) -> Iterator[Record]:
    """The run's stored events from ``from_seq`` as they reach the store, until the newest
    one read is a terminal event (a resumed run's earlier ending is not its end);
    ``quiet`` is called with the next sequence number after each read that found nothing
    new (a cluster run's :class:`~.job_watch.JobWatch`)."""
    events = StoredEvents(bucket, run_id)
    next_seq = from_seq
    while True:
        new = list(events.since(next_seq))
        yield from new
        if new:
            next_seq = new[-1].seq + 1
            if new[-1].event.TERMINAL:
                return
        elif quiet is not None:
            quiet(next_seq)
        deadline = time.monotonic() + interval_s
        while (left := deadline - time.monotonic()) > 0:
            check_cancel(cancel)
            time.sleep(min(0.25, left))


@dataclass(frozen=True)
class ClusterResume:
    """How a stored run resumes: a new Job on ``cluster``, whose worker continues the run
    from the store's checkpoint (the worker of ``datayard worker --from-store``)."""

    run: StoredRun
    cluster: str


def resumption(run: StoredRun) -> ClusterResume:
    """How ``run``, found in the store only, resumes; :class:`UsageError` when it does
    not resume from here. A run of a machine resumes there, where its folder is; a
    cluster's resumes from any machine with its profile and the cluster's, once it is
    resumable (which a run whose stored events have no ending may be: its Job says)."""
    cluster = cluster_named(run.record.backend)
    if cluster is None:
        raise UsageError(
            f"run {run.run_id} was launched from another machine ({run.record.backend}): "
            f"resume it there, with `datayard resume {run.run_id}`"
        )
    if run.summary.status.ended:
        check_resumable(run.run_id, run.summary)
    return ClusterResume(run, cluster)
