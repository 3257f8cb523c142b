"""The local backend's verdicts on runs whose worker is gone, from the run's files alone."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from datayard.core.errors import UsageError
from datayard.core.store.locks import this_machine
from datayard.core.training.local import LocalBackend
from datayard.core.training.protocol import Failed, Paused, Preparing
from datayard.core.training.runs import RunRegistry, RunStatus
from datayard.core.training.spec import TrainSpec
from tests.core.test_curves import append_events, write_run
from tests.fixtures.waits import until


def test_following_a_paused_run_from_its_next_event_leaves_it_paused(tmp_path: Path) -> None:
    """As ``resume`` follows the events its new worker will add: a run that ended before
    them is not a worker that vanished."""
    registry = RunRegistry(tmp_path / "runs")
    run = write_run(registry, epochs=3, batches=10, end=False)
    append_events(run, [Paused(epochs_done=2, resumable=True)])

    assert list(LocalBackend(registry).follow(run, poll_s=0.01, from_seq=run.next_seq())) == []
    assert run.summary().status is RunStatus.PAUSED


def test_a_run_whose_worker_vanished_is_recorded_as_failed(tmp_path: Path) -> None:
    registry = RunRegistry(tmp_path / "runs")
    run = write_run(registry, epochs=3, batches=10, end=False)

    (record,) = LocalBackend(registry).follow(run, poll_s=0.01, from_seq=run.next_seq())

    assert isinstance(record.event, Failed) and record.event.reason == "crashed"
    assert run.summary().status is RunStatus.FAILED


def test_a_run_whose_machine_restarted_under_it_is_failed_with_that_cause(tmp_path: Path) -> None:
    """A pid file from before a restart names whatever has that pid now: this process,
    here, which is no worker of the run and must not keep it "running"."""
    registry = RunRegistry(tmp_path / "runs")
    run = write_run(registry, epochs=3, batches=10, end=False)
    before = this_machine().rsplit("/", 2)
    before[1] = "0" * 8 + before[1][8:]  # another boot id
    run.pid_file.write_text(f"{os.getpid()} {'/'.join(before)}")
    backend = LocalBackend(registry)

    assert not backend.alive(run)
    summary = backend.summary(run)
    assert summary.status is RunStatus.FAILED
    assert "the machine restarted while the run trained" in summary.message
    # Its epochs were done: it resumes from the last one's checkpoint, and says so.
    assert f"`datayard resume {run.run_id}` continues it from its last full epoch" in (
        summary.message
    )
    assert summary.resumable


def test_a_run_that_failed_before_its_first_epoch_or_ended_is_not_resumed(
    tmp_path: Path,
) -> None:
    registry = RunRegistry(tmp_path / "runs")
    backend = LocalBackend(registry, python=sys.executable)
    early = registry.create(TrainSpec(dataset="me/set@v"), "me/set@v", "local")
    append_events(early, [Preparing(phase="pulling dataset"), Failed(reason="store", message="")])
    finished = write_run(registry, epochs=2, batches=3)
    before = [run.events_file.read_bytes() for run in (early, finished)]

    with pytest.raises(UsageError) as refused:
        backend.resume(early)

    assert str(refused.value) == (
        f"run {early.run_id} failed before its first epoch ended (store): it has no checkpoint "
        f"to resume from; start it again with `datayard train --clone {early.run_id}`"
    )
    with pytest.raises(UsageError, match=f"run {finished.run_id} is finished: only a paused"):
        backend.resume(finished)
    assert [run.events_file.read_bytes() for run in (early, finished)] == before  # no worker


def test_following_from_past_the_end_of_a_vanished_run_gives_nothing_earlier(
    tmp_path: Path,
) -> None:
    """A follower asks for the events from a sequence number on: the failure recorded for a
    worker that vanished, numbered before it, is not one of them (the status says it)."""
    registry = RunRegistry(tmp_path / "runs")
    run = write_run(registry, epochs=3, batches=10, end=False)

    followed = LocalBackend(registry).follow(run, poll_s=0.01, from_seq=run.next_seq() + 5)

    assert list(followed) == []
    assert run.summary().status is RunStatus.FAILED


def test_a_worker_that_ended_is_collected_without_being_asked_about(tmp_path: Path) -> None:
    """The app follows a run by its events and asks nothing once the last has come: a
    worker left uncollected would stay a zombie process until the app quits."""
    registry = RunRegistry(tmp_path / "runs")
    run = registry.create(TrainSpec(dataset="me/set@v"), "me/set@v", "local")
    ends_at_once = tmp_path / "worker"
    ends_at_once.write_text("#!/bin/sh\nexit 3\n")
    ends_at_once.chmod(0o755)
    backend = LocalBackend(registry)

    backend.start(run, resume=False, python=str(ends_at_once))
    pid = int(run.pid_file.read_text().split()[0])

    assert until(lambda: not psutil.pid_exists(pid)), psutil.Process(pid).status()
    assert not backend.alive(run)
