"""How a push job reads on screen: sizes, rates, time left, and one line of status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from datayard.core.datasets.push.queue import Job, JobState
from datayard.core.units import duration, size

ERROR_COLOUR = "#d64541"
"""A red that reads on both the light and the dark palette."""


IDLE = "No transfers · drop folders here to push"


def strip(jobs: Sequence[Job]) -> str:
    """The folded panel's one line: enough to know whether opening it is worth a click."""
    if not jobs:
        return IDLE
    counts = Counter(job.state for job in jobs)
    states = " · ".join(f"{counts[state]} {state.value}" for state in JobState if counts[state])
    noun = "push" if len(jobs) == 1 else "pushes"
    return f"{len(jobs)} {noun}: {states}"


def title(job: Job) -> str:
    folders = job.request.paths
    where = folders[0].name if len(folders) == 1 else f"{len(folders)} folders"
    return f"{job.request.dataset}  ←  {where}  ({job.request.profile})"


def detail(job: Job) -> str:
    """The line under the bar: what is happening, or what happened and what to do next."""
    match job.state:
        case JobState.QUEUED:
            return "Waiting for a free slot…"
        case JobState.RUNNING:
            return _running(job)
        case JobState.PAUSED:
            return f"Paused{_so_far(job)}. Resume continues where it stopped."
        case JobState.CANCELLED:
            return f"Cancelled{_so_far(job)}. What was sent stays stored: Resume sends the rest."
        case JobState.INTERRUPTED:
            return "Left unfinished when Datayard closed. Resume sends what is still missing."
        case JobState.FAILED:
            return job.error
        case JobState.DONE:
            return _done(job)
    raise AssertionError(job.state)


def _running(job: Job) -> str:
    if job.waiting is not None:
        reason = job.waiting.reason  # "waiting for ... to finish with this store"
        return reason[:1].upper() + reason[1:] + "…"
    transfer = job.transfer
    if transfer is not None:
        parts = [
            f"{transfer.files_done} of {transfer.files_total} files",
            f"{size(transfer.bytes_done)} of {size(transfer.bytes_total)}",
        ]
        if transfer.rate > 0:
            parts.append(f"{size(transfer.rate)}/s")
        if transfer.eta is not None and transfer.bytes_done < transfer.bytes_total:
            parts.append(f"{duration(transfer.eta)} left")
        if job.failures:
            parts.append(f"{len(job.failures)} failed")
        return " · ".join(parts)
    if job.planned is not None:
        planned = job.planned
        return (
            f"{planned.files} files ({size(planned.bytes)}): {planned.new_blobs} to send "
            f"({size(planned.new_bytes)})"
        )
    progress = job.progress
    if progress is None:
        return "Connecting to the store…"
    total = f" of {progress.total}" if progress.total is not None else ""
    return f"{progress.phase.capitalize()}: {progress.done}{total} files"


def _so_far(job: Job) -> str:
    transfer = job.transfer
    if transfer is None:
        return ""
    return f" at {transfer.files_done} of {transfer.files_total} files"


def _done(job: Job) -> str:
    result = job.result
    if result is None or result.manifest is None:
        return "Done."
    if result.unchanged:
        restored = (
            f" Restored {result.uploaded_blobs} lost file content(s) ({size(result.sent_bytes)})."
            if result.uploaded_blobs
            else ""
        )
        return f"Nothing new: {result.manifest.ref} already holds exactly these files.{restored}"
    return (
        f"Published {result.manifest.ref}: {len(result.manifest.files)} files, "
        f"{result.uploaded_blobs} sent ({size(result.sent_bytes)})."
    )


@dataclass(frozen=True)
class Bar:
    """A progress bar's reading: ``permille`` is ``None`` while the total is unknown."""

    permille: int | None
    text: str


def bar(job: Job) -> Bar:
    """Phase by phase: scan and check first, then bytes sent; full once done."""
    if job.state is JobState.DONE:
        return Bar(1000, "Done")
    fraction: float | None = 0.0
    phase = job.state.value.capitalize()
    if job.transfer is not None:
        done, total = job.transfer.bytes_done, job.transfer.bytes_total
        if total == 0:
            done, total = job.transfer.files_done, job.transfer.files_total
        fraction = done / total if total else 1.0
        phase = "Sending" if job.state is JobState.RUNNING else phase
    elif job.progress is not None and job.state is JobState.RUNNING:
        total_files = job.progress.total
        fraction = job.progress.done / total_files if total_files else None
        phase = job.progress.phase.capitalize()
    elif job.state is JobState.RUNNING:
        fraction = None
        phase = "Starting"
    if fraction is None:
        return Bar(None, phase)
    permille = min(1000, int(fraction * 1000))
    return Bar(permille, f"{phase} {permille // 10}%")
