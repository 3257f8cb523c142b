"""Runs: list, watch, stop, pause, resume, fetch their results.

A run is this machine's when its folder is here; any other run is found in the
store of the profile (the default one unless --profile names another), which
every worker keeps up to date, wherever it trains.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from rich.text import Text

from datayard.core.clusters.job_status import JobStatus
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken
from datayard.core.hosts.registry import LOCAL_HOST
from datayard.core.store.bucket import Bucket
from datayard.core.training import stored_control, stored_runs
from datayard.core.training.backends import Backends
from datayard.core.training.fetch import fetch_run
from datayard.core.training.job_watch import with_job
from datayard.core.training.protocol import Failed, Final, Record, TrainingEvent
from datayard.core.training.runs import Control, EventLog, RunFolder, RunSummary, summarize
from datayard.core.training.stored_events import StoredEvents
from datayard.core.units import size

from . import training_view
from .render import console, out, print_json
from .versions import json_option, open_store, profile_option

RUN_METAVAR = "RUN"
"""A run id, a unique prefix of one, or ``last``."""


@dataclass(frozen=True)
class RunInStore:
    """A run that is not on this machine, in the store of ``bucket``."""

    bucket: Bucket
    run_id: str


def locate_run(run: str, profile_name: str | None) -> tuple[Backends, RunFolder | RunInStore]:
    """The run on this machine, else in the store."""
    backend = Backends.default()
    folder = backend.registry.find(run)
    if folder is not None:
        return backend, folder
    return backend, _in_store(run, profile_name)


def _in_store(run: str, profile_name: str | None) -> RunInStore:
    bucket = open_store(profile_name).bucket
    return RunInStore(bucket, stored_runs.find(bucket, run))


@click.group(name="runs", invoke_without_command=True)
@click.option(
    "--all",
    "everywhere",
    is_flag=True,
    help="Also the runs of every other machine and cluster, from the store.",
)
@profile_option
@json_option
@click.pass_context
def command(
    context: click.Context, everywhere: bool, profile_name: str | None, as_json: bool
) -> None:
    """List the training runs launched from this machine, newest first.

    A run goes by its name (street-yolo11n-3) or its id, or a unique start of the id.
    """
    if context.invoked_subcommand is not None:
        return
    backend = Backends.default()
    folders = backend.registry.all()
    rows = [(f.record(), backend.summary(f), backend.where(f)) for f in folders]
    jobs = backend.jobs(folders)
    rows = [
        (record, _told(summary, jobs.get(record.run_id)), where) for record, summary, where in rows
    ]
    if everywhere:
        here = frozenset(record.run_id for record, _, _ in rows)
        bucket = open_store(profile_name).bucket
        stored = stored_runs.stored_runs(bucket, leave_out=here)
        rows += [(run.record, run.summary, run.where) for run in stored]
        rows.sort(key=lambda row: row[0].run_id, reverse=True)
    if as_json:
        print_json(
            [
                {
                    "run": record.run_id,
                    "name": record.name,
                    "status": summary.status.value,
                    "where": where,
                    "backend": record.backend,
                    "dataset": record.dataset,
                    "model": record.spec.model,
                    "epochs_done": summary.epochs_done,
                    "epochs": summary.epochs,
                    "best_map50_95": summary.best_map,
                    "duration_s": summary.duration,
                    "message": summary.message,
                    "unstored": list(summary.unstored),
                    **_job_fields(jobs.get(record.run_id)),
                }
                for record, summary, where in rows
            ]
        )
        return
    if not rows:
        console.print("no runs yet: start one with `datayard train DATASET`")
        return
    out.print(training_view.runs_table([training_view.summary_cells(r, s, w) for r, s, w in rows]))
    for run_id, job in jobs.items():
        if job.detail:
            out.print(Text(f"{run_id}: Job {job.phase.lower()}: {job.detail}"))


@command.command(name="rename")
@click.argument("run", metavar=RUN_METAVAR)
@click.argument("name")
def rename(run: str, name: str) -> None:
    """Give RUN (of this machine) the name NAME; the store's copy of its record follows."""
    backend = Backends.default()
    record, kept = backend.rename(backend.registry.get(run), name)
    out.print(Text(f"run {record.run_id} is now named {record.name}"))
    if kept:
        console.print(
            Text(f"the store's copy of the run keeps its old name: {kept}", style="yellow")
        )


def _told(summary: RunSummary, job: JobStatus | None) -> RunSummary:
    return summary if job is None else with_job(summary, job)


def _job_fields(job: JobStatus | None) -> dict[str, object]:
    """A cluster run's Job, as its cluster answered; nothing when it did not."""
    if job is None:
        return {}
    return {"job": {"phase": job.phase, "reason": job.reason, "detail": job.detail}}


@click.command(name="show-run")
@click.argument("run", metavar=RUN_METAVAR)
@profile_option
@json_option
def show_run(run: str, profile_name: str | None, as_json: bool) -> None:
    """Show what RUN trained, how it ended, and its final validation, overall and per class.

    A run that is not on this machine is read from the store.
    """
    backend, found = locate_run(run, profile_name)
    if isinstance(found, RunInStore):
        record = stored_runs.stored_record(found.bucket, found.run_id)
        events = [stored.event for stored in StoredEvents(found.bucket, found.run_id).since(0)]
        where = stored_runs.launched_where(record.backend)
    else:
        record, events, where = found.record(), found.events(), backend.where(found)
    summary = summarize(events, record.spec.epochs)
    final = next((e for e in reversed(events) if isinstance(e, Final)), None)
    if as_json:
        print_json(
            {
                "run": record.run_id,
                "name": record.name,
                "status": summary.status.value,
                "dataset": record.dataset,
                "model": record.spec.model,
                "epochs_done": summary.epochs_done,
                "epochs": summary.epochs,
                "metrics": final.metrics if final else {},
                "classes": final.classes if final else {},
            }
        )
        return
    out.print(training_view.runs_table([training_view.summary_cells(record, summary, where)]))
    if final is None:
        console.print(f"no final validation: the run is {summary.status.value}")
        return
    overall = ", ".join(f"{name} {value:.3f}" for name, value in sorted(final.metrics.items()))
    out.print(Text(f"Final validation of best.pt: {overall}"))
    if final.classes:
        out.print(training_view.class_table(final.classes))


@click.command(name="logs")
@click.argument("run", metavar=RUN_METAVAR)
@click.option("--follow", "-f", "keep_following", is_flag=True, help="Keep watching until it ends.")
@profile_option
def logs(run: str, keep_following: bool, profile_name: str | None) -> None:
    """Show a run's metrics, one row per epoch; with --follow, live until it ends.

    A run that is not on this machine is read from the store.
    """
    backend, found = locate_run(run, profile_name)
    if isinstance(found, RunInStore):
        last = _stored_logs(backend, found, keep_following)
    elif keep_following:
        last = training_view.follow(lambda cancel: backend.follow(found, cancel), found.run_id)
    else:
        last = training_view.show(EventLog(found.events_file).read_new())
        if last is None:
            summary = found.summary()
            console.print(
                f"{summary.status.value}: epoch {summary.epochs_done} of {summary.epochs}"
            )
    if isinstance(last, Failed):
        sys.exit(1)


def _stored_logs(
    backend: Backends, found: RunInStore, keep_following: bool
) -> TrainingEvent | None:
    if keep_following:
        record = stored_runs.stored_record(found.bucket, found.run_id)
        watch = backend.cluster.watch(found.run_id, record.backend, found.bucket)
        return training_view.follow(
            lambda cancel: stored_runs.follow(found.bucket, found.run_id, cancel, quiet=watch),
            found.run_id,
        )
    last = training_view.show(StoredEvents(found.bucket, found.run_id).since(0))
    if last is None:
        summary = stored_runs.stored_run(found.bucket, found.run_id).summary
        console.print(f"{summary.status.value}: epoch {summary.epochs_done} of {summary.epochs}")
    return last


@click.command(name="stop")
@click.argument("run", metavar=RUN_METAVAR)
@click.option("--kill", is_flag=True, help="End the worker at once, without saving.")
@profile_option
def stop(run: str, kill: bool, profile_name: str | None) -> None:
    """Finish a run now: the current batch ends, the weights are validated and saved.

    A run that is not on this machine is asked through the store.
    """
    backend, found = locate_run(run, profile_name)
    if isinstance(found, RunInStore):
        if kill:
            stored = stored_runs.stored_run(found.bucket, found.run_id)
            backend.cluster.kill_stored(stored, profile_name)
            console.print(f"run {found.run_id} killed: its Job is deleted")
            return
        _request_through_store(found, Control.STOP)
        return
    if kill:
        backend.kill(found)
        console.print(f"run {found.run_id} killed")
        return
    backend.stop(found)
    _wait_for_end(backend, found)


@click.command(name="pause")
@click.argument("run", metavar=RUN_METAVAR)
@profile_option
def pause(run: str, profile_name: str | None) -> None:
    """Pause a run so that `datayard resume` continues it from its last full epoch.

    A run that is not on this machine is asked through the store.
    """
    backend, found = locate_run(run, profile_name)
    if isinstance(found, RunInStore):
        _request_through_store(found, Control.PAUSE)
        return
    backend.pause(found)
    _wait_for_end(backend, found)


@click.command(name="resume")
@click.argument("run", metavar=RUN_METAVAR)
@click.option("--detach", is_flag=True, help="Resume and return; follow with `datayard logs`.")
@profile_option
def resume(run: str, detach: bool, profile_name: str | None) -> None:
    """Continue a paused run, or one that failed after a full epoch, from its last checkpoint.

    A failed run's checkpoint is its own last.pt, or the store's copy when that is gone.
    """
    backend, found = locate_run(run, profile_name)
    if isinstance(found, RunInStore):
        how = stored_runs.resumption(stored_runs.stored_run(found.bucket, found.run_id))
        first_new = backend.cluster.resume_stored(how, profile_name)
        console.print(f"run {found.run_id} resumed as a new Job on cluster {how.cluster}")

        def records(cancel: CancelToken) -> Iterator[Record]:
            return stored_runs.follow(found.bucket, found.run_id, cancel, from_seq=first_new)

    else:
        first_new = found.next_seq()
        backend.resume(found)
        console.print(f"run {found.run_id} resumed")

        def records(cancel: CancelToken) -> Iterator[Record]:
            return backend.follow(found, cancel, from_seq=first_new)

    if not detach and isinstance(training_view.follow(records, found.run_id), Failed):
        sys.exit(1)


def _wait_for_end(backend: Backends, folder: RunFolder) -> None:
    console.print(f"waiting for run {folder.run_id} to save and end...")
    last = None
    for record in backend.follow(folder):
        last = record.event
    if last is not None:
        out.print(Text(training_view.ending(last)))


def _request_through_store(found: RunInStore, control: Control) -> None:
    """Write the request for the run's worker, wherever it trains, and wait for the run's
    ending to reach the store."""
    summary = stored_runs.stored_run(found.bucket, found.run_id).summary
    if summary.status.ended:
        raise UsageError(f"run {found.run_id} is not running ({summary.status.value})")
    stored_control.request(found.bucket, found.run_id, control)
    console.print(f"waiting for run {found.run_id} to save and end (asked through the store)...")
    last = None
    for record in stored_runs.follow(found.bucket, found.run_id):
        last = record.event
    if last is not None:
        out.print(Text(training_view.ending(last)))


@click.command(name="fetch")
@click.argument("run", metavar=RUN_METAVAR)
@click.argument("destination", type=click.Path(path_type=Path, file_okay=False))
@profile_option
def fetch(run: str, destination: Path, profile_name: str | None) -> None:
    """Copy a run's weights and results into DESTINATION.

    From this machine's run folder when it is here, else from the store, so
    runs launched elsewhere can be fetched by id.
    """
    backend = Backends.default()
    folder = backend.registry.find(run)
    if folder is not None and backend.where(folder) == LOCAL_HOST:
        run_id, copied = folder.run_id, fetch_run(folder.run_id, destination, folder=folder)
    else:
        # A host's run has its files there: the store's copy of them is fetched.
        stored = (
            RunInStore(open_store(profile_name).bucket, folder.run_id)
            if folder is not None
            else _in_store(run, profile_name)
        )
        run_id, copied = stored.run_id, fetch_run(stored.run_id, destination, bucket=stored.bucket)
    total = sum(p.stat().st_size for p in copied)
    out.print(Text(f"{len(copied)} files ({size(total)}) of run {run_id} in {destination}"))
    for path in copied:
        if path.suffix == ".pt":
            out.print(Text(f"  {path}"))
