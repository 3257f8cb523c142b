"""What a cluster run's Job says when its worker says nothing.

A pod's worker tells its run through the store, so a follower that reads only
the store hears nothing from a pod that never starts (no node has the GPUs, the
image cannot be pulled) and waits forever for one that was ended without
storing its end (evicted, killed for its memory, its node lost, its Job
deleted). So while the store has nothing new, a follower asks the run's Job
every :data:`LOOK_EVERY_S`: a pod that waits is told once per reason, and again
after :data:`PENDING_TOO_LONG_S` with how to cancel it; a worker found gone has
its run's failure stored, which ends every follower of the run, on any machine.
It takes two looks in a row, :data:`LOOK_EVERY_S` apart, with no new event
between them: a resume deletes the ended Job before it stores its ``resuming``
event and submits the next Job, and a single look could fall in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from datayard.core.clusters.api import ClusterApi
from datayard.core.clusters.job_status import MISSING, JobStatus
from datayard.core.clusters.manifests import job_name
from datayard.core.errors import ClusterError, UsageError
from datayard.core.store.bucket import Bucket
from datayard.core.training import stored_runs
from datayard.core.training.protocol import Failed
from datayard.core.training.runs import RunStatus, RunSummary
from datayard.core.training.stored_events import StoredEvents
from datayard.core.units import duration

log = logging.getLogger(__name__)

LOOK_EVERY_S = 15.0
"""How often a follower that hears nothing from a run asks its Job: a few requests a
minute to the API server, and a failure seen within half a minute."""
PENDING_TOO_LONG_S = 600.0
"""How long a pod may wait for a node or its image before its follower says how to
cancel the run: longer than a busy cluster takes to make room or pull a large image."""
WORKER_GONE = ("Failed", "Succeeded", MISSING)
"""Phases of a Job whose worker no longer runs: it ended, or the Job is gone."""


def job_failure(job: JobStatus) -> Failed:
    """The end of a run whose Job's worker ended without storing one, as the Job tells."""
    return Failed(
        reason=job.reason or "crashed",
        message="its worker ended without storing its result: "
        + (job.detail or f"its Job {job.phase.lower()}"),
    )


def with_job(summary: RunSummary, job: JobStatus) -> RunSummary:
    """The run's status from the store, told with its Job's: a run the store has not seen
    end, whose Job's worker no longer runs, failed as that Job says (its pod evicted or out
    of memory, its Job deleted); one whose pod waits says why."""
    if summary.status.ended:
        return summary
    if job.phase in WORKER_GONE:
        failure = job_failure(job)
        return replace(
            summary, status=RunStatus.FAILED, reason=failure.reason, message=failure.message
        )
    return replace(summary, message=job.detail) if job.detail else summary


def store_ending(bucket: Bucket, run_id: str, failure: Failed) -> None:
    """Store ``failure`` as the run's end, unless the store already has an end last."""
    records = list(StoredEvents(bucket, run_id).since(0))
    if not records or not records[-1].event.TERMINAL:
        stored_runs.put_events(bucket, run_id, [failure])


class JobWatch:
    """A follower's looks at one run's Job, called each time a read of the store found
    nothing new (``stored_runs.follow``'s ``quiet``)."""

    def __init__(
        self,
        api: Callable[[], ClusterApi],
        bucket: Bucket,
        run_id: str,
        *,
        look_every_s: float = LOOK_EVERY_S,
        pending_too_long_s: float = PENDING_TOO_LONG_S,
    ) -> None:
        self._api = api
        self._bucket = bucket
        self.run_id = run_id
        self._look_every_s = look_every_s
        self._pending_too_long_s = pending_too_long_s
        self._next_look = time.monotonic() + look_every_s
        self._pending_since: float | None = None
        self._told = ""
        self._told_too_long = False
        self._gone_at: int | None = None
        """The follower's next sequence number when a look last found the worker gone."""

    def __call__(self, next_seq: int) -> None:
        """Look at the Job if it is time to; ``next_seq`` is the follower's next sequence
        number, which tells whether an event came since the last look."""
        now = time.monotonic()
        if now < self._next_look:
            return
        self._next_look = now + self._look_every_s
        try:
            with self._api() as api:
                job = api.job_status(job_name(self.run_id), self.run_id)
        except (ClusterError, UsageError) as error:
            # The store is what the follower reads; a cluster it cannot ask is no end.
            log.debug("run %s: its Job cannot be asked: %s", self.run_id, error)
            return
        if job.phase in WORKER_GONE:
            self._worker_gone(job, next_seq)
            return
        self._gone_at = None
        if job.phase == "Pending" and job.reason:
            self._waiting(job, now)
        else:
            self._pending_since, self._told = None, ""

    def _worker_gone(self, job: JobStatus, next_seq: int) -> None:
        if self._gone_at != next_seq:
            self._gone_at = next_seq
            return
        log.warning("run %s failed: %s", self.run_id, job.detail or f"its Job {job.phase}")
        store_ending(self._bucket, self.run_id, job_failure(job))

    def _waiting(self, job: JobStatus, now: float) -> None:
        if self._pending_since is None:
            self._pending_since = now
        if job.reason != self._told:
            self._told = job.reason
            log.warning("run %s waits: %s", self.run_id, job.detail)
        waited = now - self._pending_since
        if waited >= self._pending_too_long_s and not self._told_too_long:
            self._told_too_long = True
            log.warning(
                "run %s has waited %s for its pod (%s): `datayard stop %s --kill` cancels it",
                self.run_id,
                duration(waited),
                job.reason,
                self.run_id,
            )
