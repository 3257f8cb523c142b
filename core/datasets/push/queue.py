"""The push queue: what the user asked to push, and where each push stands.

A front end adds requests, runs the jobs the queue says may start, and feeds
their events back; the queue keeps each job's state honest (a done push cannot
be paused, a paused one cannot finish twice) and tells subscribers of every
change. Unfinished jobs are written to the local database, so that a push cut
short by closing the app or a crash is offered again at the next start: a push
is resumable by running it again (what is stored is not sent twice, a multipart
upload continues from its last part).

The queue is not thread-safe by design: a GUI calls it from its UI thread only,
where the workers' events arrive as signals.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from datayard.core.database import connect
from datayard.core.datasets.push import PushPlanned, PushResult
from datayard.core.datasets.push.engine import CheckFailedError
from datayard.core.datasets.push.request import PushRequest
from datayard.core.drive.check import Severity
from datayard.core.errors import DatayardError, UsageError
from datayard.core.events import FileFailed, Progress, Transfer, Waiting


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    """Left unfinished by an earlier session of the app (closed or crashed)."""


UNFINISHED = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.PAUSED, JobState.INTERRUPTED})
"""States worth offering again after a restart; they are kept on disk."""

_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.PAUSED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset(
        {JobState.DONE, JobState.FAILED, JobState.PAUSED, JobState.CANCELLED}
    ),
    # A pause or cancel stops the push at its next checkpoint; if it published its
    # version before reaching one, it is done all the same.
    JobState.PAUSED: frozenset({JobState.QUEUED, JobState.CANCELLED, JobState.DONE}),
    JobState.CANCELLED: frozenset({JobState.QUEUED, JobState.DONE}),
    JobState.FAILED: frozenset({JobState.QUEUED, JobState.CANCELLED}),
    JobState.INTERRUPTED: frozenset({JobState.QUEUED, JobState.CANCELLED}),
    JobState.DONE: frozenset(),
}


class JobStateError(UsageError):
    """An action that does not apply to the job as it is now (pause a finished push)."""


@dataclass
class Job:
    """One push and what is known of it; read by front ends, changed by the queue only."""

    id: str
    request: PushRequest
    state: JobState = JobState.QUEUED
    progress: Progress | None = None
    """The scan or check phase, before anything is sent."""
    planned: PushPlanned | None = None
    transfer: Transfer | None = None
    waiting: Waiting | None = None
    """What the push waits for (a gc holding the store), until its next step."""
    failures: list[FileFailed] = field(default_factory=list)
    result: PushResult | None = None
    error: str = ""

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    def _reset(self) -> None:
        self.progress = self.planned = self.transfer = self.waiting = self.result = None
        self.failures = []
        self.error = ""


Subscriber = Callable[[Job], None]


class PushQueue:
    def __init__(self, *, max_running: int = 1, store: JobStore | None = None) -> None:
        if max_running < 1:
            raise UsageError("at least one push must be allowed to run")
        self.max_running = max_running
        self._store = store
        self._jobs: dict[str, Job] = {}
        self._subscribers: list[Subscriber] = []

    # -- reading -----------------------------------------------------------------

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(self._jobs.values())

    def get(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise UsageError(f"there is no push job {job_id!r} in the queue") from None

    def has_active(self) -> bool:
        return any(job.active for job in self._jobs.values())

    def startable(self, busy: Sequence[str] = ()) -> list[Job]:
        """Queued jobs to start now, oldest first.

        ``busy`` names jobs whose previous run is still winding down (a pause
        takes effect at the push's next checkpoint): they hold a slot and must
        not run twice at once.
        """
        running = {j.id for j in self._jobs.values() if j.state is JobState.RUNNING}
        free = self.max_running - len(running | set(busy))
        queued = [j for j in self._jobs.values() if j.state is JobState.QUEUED and j.id not in busy]
        return queued[: max(free, 0)]

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(job)`` after every change; returns the unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    # -- changing ----------------------------------------------------------------

    def add(self, request: PushRequest) -> Job:
        if not request.paths:
            raise UsageError("a push needs at least one folder")
        job = Job(uuid.uuid4().hex[:12], request)
        self._jobs[job.id] = job
        self._changed(job, persist=True)
        return job

    def adopt(self, jobs: Sequence[Job]) -> None:
        """Take in jobs left unfinished by an earlier session (see :meth:`JobStore.load`)."""
        for job in jobs:
            if job.id not in self._jobs:
                self._jobs[job.id] = job
                self._changed(job, persist=False)

    def start(self, job_id: str) -> Job:
        job = self._move(job_id, JobState.RUNNING)
        job._reset()
        self._changed(job, persist=True)
        return job

    def record(self, job_id: str, event: object) -> None:
        """One event of the running push; events that arrive after a pause are dropped."""
        job = self.get(job_id)
        if job.state is not JobState.RUNNING:
            return
        if isinstance(event, Waiting):
            job.waiting = event
            self._changed(job, persist=False)
            return
        job.waiting = None
        if isinstance(event, Progress):
            job.progress = event
        elif isinstance(event, PushPlanned):
            job.planned = event
        elif isinstance(event, Transfer):
            job.transfer = event
        elif isinstance(event, FileFailed):
            job.failures.append(event)
        else:
            return
        self._changed(job, persist=False)

    def finish(self, job_id: str, result: PushResult) -> None:
        job = self.get(job_id)
        if result.failures:
            if job.state is not JobState.RUNNING:
                return  # stopped by the user meanwhile: their choice stands
            self._move(job_id, JobState.FAILED)
            job.failures = list(result.failures)
            job.error = (
                f"{len(result.failures)} file(s) could not be sent; nothing was published. "
                "Fix them, then retry: what was sent is not sent again."
            )
        else:
            self._move(job_id, JobState.DONE)
        job.result = result
        self._changed(job, persist=True)

    def fail(self, job_id: str, error: BaseException) -> None:
        job = self.get(job_id)
        if job.state is not JobState.RUNNING:
            return  # a pause or cancel already said how this run ends
        self._move(job_id, JobState.FAILED)
        job.error = failure_message(error)
        self._changed(job, persist=True)

    def pause(self, job_id: str) -> None:
        self._changed(self._move(job_id, JobState.PAUSED), persist=True)

    def cancel(self, job_id: str) -> None:
        self._changed(self._move(job_id, JobState.CANCELLED), persist=True)

    def resume(self, job_id: str) -> None:
        """Queue the same push again: paused, cancelled, failed (retry) or interrupted."""
        self._changed(self._move(job_id, JobState.QUEUED), persist=True)

    def pause_all(self) -> list[Job]:
        """Pause every active job (the app is closing); returns those paused."""
        paused = [job for job in self._jobs.values() if job.active]
        for job in paused:
            self.pause(job.id)
        return paused

    def remove(self, job_id: str) -> None:
        """Forget a job that is not running: cleared from the list, not offered again."""
        job = self.get(job_id)
        if job.state is JobState.RUNNING:
            raise JobStateError(f"the push {job.request.dataset!r} is running: cancel it first")
        del self._jobs[job_id]
        if self._store is not None:
            self._store.forget(job_id)

    def _move(self, job_id: str, target: JobState) -> Job:
        job = self.get(job_id)
        if target not in _TRANSITIONS[job.state]:
            raise JobStateError(
                f"the push {job.request.dataset!r} is {job.state.value}: it cannot become "
                f"{target.value}"
            )
        job.state = target
        return job

    def _changed(self, job: Job, *, persist: bool) -> None:
        if persist and self._store is not None:
            self._store.save(job)
        for callback in list(self._subscribers):
            callback(job)


def failure_message(error: BaseException) -> str:
    """What a user reads when a push stops: the problem and what to do next."""
    if isinstance(error, CheckFailedError):
        blocking = sum(r.counts[Severity.ERROR] for r in error.reports)
        return (
            f"The check found {blocking} blocking problem(s); no version was made. Fix them and "
            "retry, or push again with 'Push anyway' ticked."
        )
    if isinstance(error, DatayardError):
        text = str(error)
        return text[:1].upper() + text[1:]
    return (
        f"Unexpected error ({type(error).__name__}: {error}). The log panel has the details; "
        "retry, and report it if it happens again."
    )


class JobStore:
    """Unfinished jobs in the local database, so that the next session can offer them.

    Connections are short-lived: the queue writes only when a job changes state.
    """

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS push_jobs (
        id TEXT PRIMARY KEY, request TEXT NOT NULL, state TEXT NOT NULL, created REAL NOT NULL);
    """

    def __init__(self, database: Path) -> None:
        self.database = database

    def save(self, job: Job) -> None:
        if job.state not in UNFINISHED:
            self.forget(job.id)
            return
        db = connect(self.database, self._SCHEMA)
        try:
            with db:
                db.execute(
                    "INSERT INTO push_jobs (id, request, state, created) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                    (job.id, job.request.to_json(), job.state.value, time.time()),
                )
        finally:
            db.close()

    def forget(self, job_id: str) -> None:
        db = connect(self.database, self._SCHEMA)
        try:
            with db:
                db.execute("DELETE FROM push_jobs WHERE id = ?", (job_id,))
        finally:
            db.close()

    def load(self) -> list[Job]:
        """Jobs an earlier session left unfinished, oldest first, all as interrupted."""
        db = connect(self.database, self._SCHEMA)
        try:
            rows = db.execute("SELECT id, request FROM push_jobs ORDER BY created").fetchall()
        finally:
            db.close()
        return [
            Job(str(job_id), PushRequest.from_json(str(request)), JobState.INTERRUPTED)
            for job_id, request in rows
        ]
