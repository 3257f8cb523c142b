"""A run whose worker died resumes from its last checkpoint: real workers killed after their
first epoch, resumed from the run's own last.pt or from the store's copy of it."""

from __future__ import annotations

import os
import signal

from datayard.core.training.mirror import artifact_key
from datayard.core.training.protocol import (
    Epoch,
    Failed,
    Finished,
    Preparing,
    Setup,
    TrainingEvent,
)
from datayard.core.training.runs import RunFolder, RunStatus
from tests.core.test_curves import append_events
from tests.e2e.test_training import (
    no_network,  # noqa: F401 - every worker stays offline
)
from tests.fixtures.training import TrainingStore
from tests.fixtures.waits import until

LAST = "train/weights/last.pt"
FETCHING = "fetching the checkpoint"


def killed_after_epoch_1(store: TrainingStore, folder: RunFolder, *, stored: bool) -> Failed:
    """Follow the run to its end, killing its worker with SIGKILL (as the out-of-memory
    killer would) once its first epoch is reported and, when ``stored``, once the store
    has that epoch's checkpoint (stored at once; the next one a minute later at most)."""
    key = artifact_key(folder.run_id, LAST)
    events: list[TrainingEvent] = []
    for record in store.backend.follow(folder, poll_s=0.05):
        events.append(record.event)
        if isinstance(record.event, Epoch) and record.event.epoch == 1:
            assert not stored or until(lambda: store.bucket.exists(key)), "never stored"
            pid = folder.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
    failed = events[-1]
    assert isinstance(failed, Failed), failed
    return failed


def resumed(store: TrainingStore, folder: RunFolder) -> list[TrainingEvent]:
    """The events of the run's new worker, from the resume to the end."""
    first_new = folder.next_seq()
    store.backend.resume(folder)
    return [r.event for r in store.backend.follow(folder, poll_s=0.05, from_seq=first_new)]


def assert_continued_from_epoch_2(events: list[TrainingEvent], epochs: int) -> None:
    setup = next(e for e in events if isinstance(e, Setup))
    assert setup.start_epoch == 2
    assert [e.epoch for e in events if isinstance(e, Epoch)] == list(range(2, epochs + 1))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.epochs_done == epochs, finished


def test_a_worker_killed_after_its_first_epoch_leaves_a_run_that_resumes_from_epoch_2(
    training_store: TrainingStore,
) -> None:
    folder = training_store.backend.launch(training_store.spec(epochs=3), training_store.ref)

    failed = killed_after_epoch_1(training_store, folder, stored=False)

    assert failed.reason == "crashed"
    assert failed.message.startswith("the worker was killed by signal SIGKILL")
    assert f"`datayard resume {folder.run_id}` continues it from its last full epoch" in (
        failed.message
    )
    assert folder.summary().status is RunStatus.FAILED
    after = resumed(training_store, folder)
    assert_continued_from_epoch_2(after, epochs=3)
    assert not any(isinstance(e, Preparing) and e.phase == FETCHING for e in after)
    assert folder.summary().status is RunStatus.FINISHED


def test_a_failed_run_whose_checkpoint_is_gone_resumes_from_the_stores_copy(
    training_store: TrainingStore,
) -> None:
    folder = training_store.backend.launch(training_store.spec(epochs=3), training_store.ref)
    killed_after_epoch_1(training_store, folder, stored=True)
    (folder.path / LAST).unlink()  # its folder lost it: the store has epoch 1's

    after = resumed(training_store, folder)

    assert any(isinstance(e, Preparing) and e.phase == FETCHING for e in after)
    assert_continued_from_epoch_2(after, epochs=3)
    assert (folder.path / LAST).is_file()  # trained on in the run's folder


def test_a_resume_with_no_checkpoint_anywhere_fails_saying_to_start_it_again(
    training_store: TrainingStore,
) -> None:
    """A run that failed after an epoch whose checkpoint is in neither place, then whose
    store holds something else under its key: each resume fails at once, saying why."""
    backend = training_store.backend
    folder = backend.registry.create(training_store.spec(epochs=3), training_store.ref, "local")
    one_epoch = Epoch(
        epoch=1,
        epochs=3,
        train_losses={},
        val_losses={},
        metrics={},
        fitness=0.1,
        lr=0.01,
        seconds=1,
    )
    append_events(folder, [one_epoch, Failed(reason="crashed", message="out of memory")])
    again = f"start it again with `datayard train --clone {folder.run_id}`"
    key = artifact_key(folder.run_id, LAST)

    failed = resumed(training_store, folder)[-1]

    assert isinstance(failed, Failed) and failed.reason == "checkpoint", failed
    assert failed.message == (
        f"run {folder.run_id} has no checkpoint to resume from: its {LAST} is missing and "
        f"the store has no copy ({key}); {again}"
    )

    training_store.bucket.put_bytes(key, b"not a checkpoint" * 1000)
    failed = resumed(training_store, folder)[-1]

    assert isinstance(failed, Failed) and failed.reason == "checkpoint", failed
    assert f"the store's copy ({key}) is not a checkpoint (" in failed.message
    assert failed.message.endswith(again)
    assert not (folder.path / LAST).exists()
    # Before the dataset: a resume that cannot train does not pull it.
    assert not any(
        isinstance(e, Preparing) and e.phase == "pulling dataset" for e in folder.events()
    )
