"""How a run ends when its worker cannot finish it: real workers that stop answering, die,
or are asked for a GPU this machine lacks. Each is recorded as failed with its cause."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from datayard.core.training.devices import find_accelerator
from datayard.core.training.protocol import Batch, Failed
from datayard.core.training.runs import RunFolder, RunStatus
from tests.e2e.test_training import (
    follow,
    no_network,  # noqa: F401 - every worker stays offline
)
from tests.fixtures.training import TrainingStore


def launch_until_first_batch(store: TrainingStore) -> RunFolder:
    """A long run, once it trains: its worker is past set-up, in the batch loop."""
    folder = store.backend.launch(store.spec(epochs=50), store.ref)
    for record in store.backend.follow(folder, poll_s=0.05):
        if isinstance(record.event, Batch):
            return folder
    raise AssertionError(f"the run ended before its first batch: {folder.events()[-1]}")


def test_a_worker_that_does_not_answer_a_request_is_killed(training_store: TrainingStore) -> None:
    backend = training_store.backend
    folder = launch_until_first_batch(training_store)
    pid = folder.pid()
    assert pid is not None
    psutil.Process(pid).suspend()  # SIGSTOP: alive, but it reads no control file

    backend.stop(folder)
    failed = follow_with_grace(training_store, folder, grace_s=1.0)[-1]

    assert isinstance(failed, Failed) and failed.reason == "killed"
    assert failed.message == "did not answer a stop request in 1 s"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert folder.summary().status is RunStatus.FAILED


def follow_with_grace(store: TrainingStore, folder: RunFolder, grace_s: float) -> list[object]:
    """The run's events to its end, killing a worker that ignores a request for ``grace_s``
    (30 s for the commands and the app)."""
    return [record.event for record in store.backend.follow(folder, poll_s=0.05, grace_s=grace_s)]


def test_a_worker_that_dies_is_recorded_as_failed_with_its_last_output(
    training_store: TrainingStore,
) -> None:
    folder = launch_until_first_batch(training_store)
    pid = folder.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would

    failed = follow(training_store, folder)[-1]

    assert isinstance(failed, Failed) and failed.reason == "crashed"
    cause, tail = failed.message.split("; last output:\n")
    assert cause.startswith("the worker was killed by signal SIGKILL")
    assert "1/50" in tail.splitlines()[-1]  # Ultralytics' progress line: epoch 1 of 50
    assert "\x1b" not in tail  # its colours and line clearing are not part of a message
    assert folder.summary().status is RunStatus.FAILED


@pytest.mark.skipif(find_accelerator().gpu, reason="this machine has a GPU")
def test_a_missing_cuda_device_fails_the_run_with_the_reason(
    training_store: TrainingStore,
) -> None:
    folder = training_store.backend.launch(training_store.spec(device="cuda:0"), training_store.ref)

    failed = follow(training_store, folder)[-1]

    assert isinstance(failed, Failed) and failed.reason == "device", failed
    assert failed.message.startswith("the requested device is not usable here: ")
    assert "CUDA" in failed.message and failed.message.endswith("Use device auto or cpu")
    assert folder.summary().status is RunStatus.FAILED
