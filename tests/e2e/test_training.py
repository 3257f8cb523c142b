"""Real, tiny YOLO trainings on the CPU through the worker and the local backend.

Every worker here runs with an audit hook that refuses and records any
connection or name lookup beyond loopback, so each test also shows that a
run needs no network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from datayard.core.store.bucket import Bucket
from datayard.core.training.mirror import artifact_key, run_key
from datayard.core.training.protocol import (
    Batch,
    Checkpoint,
    Epoch,
    Failed,
    Final,
    Finished,
    Paused,
    Preparing,
    Setup,
    Stopped,
    TrainingEvent,
    decode,
)
from datayard.core.training.runs import RunFolder, RunStatus
from tests.fixtures.datasets import publish, run_cli
from tests.fixtures.training import SHAPES, TrainingStore, shapes_files

HOOK = Path(__file__).resolve().parents[1] / "fixtures" / "offline_hook"


@pytest.fixture(autouse=True)
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    log = tmp_path / "network.log"
    monkeypatch.setenv("PYTHONPATH", str(HOOK))
    monkeypatch.setenv("DATAYARD_NETWORK_LOG", str(log))
    yield log
    attempts = log.read_text() if log.exists() else ""
    assert attempts == "", f"a worker tried to reach the network:\n{attempts}"


def follow(store: TrainingStore, folder: RunFolder) -> list[TrainingEvent]:
    return [record.event for record in store.backend.follow(folder, poll_s=0.05)]


def follow_and_after_epoch_1(
    store: TrainingStore, folder: RunFolder, request: Callable[[RunFolder], None]
) -> list[TrainingEvent]:
    """Follow the run to its end, making ``request`` once the first epoch is reported."""
    events: list[TrainingEvent] = []
    for record in store.backend.follow(folder, poll_s=0.05):
        events.append(record.event)
        if isinstance(record.event, Epoch) and record.event.epoch == 1:
            request(folder)
    return events


TWO_EPOCHS = [
    "preparing",
    "setup",
    "batch",
    "checkpoint",
    "epoch",
    "batch",
    "checkpoint",
    "epoch",
    "final",
    "finished",
]
"""The shape of a two-epoch run's stream (see :func:`kinds`)."""


def stored_chunks(bucket: Bucket, run_id: str) -> list[tuple[str, list[str]]]:
    """The run's events chunks as the store has them, in order: each one's name and lines.

    Each is checked to be named by the sequence number of its first event, so that
    a reader who lists them sees a gap or a repetition by their names alone.
    """
    keys = sorted(o.key for o in bucket.objects(run_key(run_id, "events/")))
    chunks = [(key.rsplit("/", 1)[1], bucket.get_bytes(key).decode().splitlines()) for key in keys]
    for name, lines in chunks:
        assert name == f"{json.loads(lines[0])['seq']:09d}.jsonl", (name, lines[0])
    return chunks


def stored_events(bucket: Bucket, run_id: str) -> list[str]:
    """The run's event lines as the store has them, chunk after chunk."""
    return [line for _, lines in stored_chunks(bucket, run_id) for line in lines]


def kinds(events: list[TrainingEvent]) -> list[str]:
    """The stream's shape: runs of the same event type collapsed into one."""
    shape: list[str] = []
    for event in events:
        if not shape or shape[-1] != event.TYPE:
            shape.append(event.TYPE)
    return shape


def test_a_run_streams_its_events_in_order_and_mirrors_them(
    training_store: TrainingStore,
) -> None:
    folder = training_store.backend.launch(training_store.spec(epochs=2), training_store.ref)
    events = follow(training_store, folder)

    assert kinds(events) == TWO_EPOCHS
    setup = next(e for e in events if isinstance(e, Setup))
    assert (setup.epochs, setup.train_images, setup.val_images) == (2, 16, 8)
    assert setup.class_names == SHAPES and setup.device == "cpu"
    assert setup.batches_per_epoch == 4 and setup.start_epoch == 1
    batches = [e for e in events if isinstance(e, Batch)]
    assert [(b.epoch, b.batch) for b in batches] == [(e, b) for e in (1, 2) for b in (1, 2, 3, 4)]
    assert [b.step for b in batches] == list(range(1, 9))
    assert all(set(b.losses) == {"box_loss", "cls_loss", "dfl_loss"} for b in batches)
    epochs = [e for e in events if isinstance(e, Epoch)]
    assert [e.epoch for e in epochs] == [1, 2]
    assert {"precision", "recall", "mAP50", "mAP50-95"} <= set(epochs[-1].metrics)
    assert set(epochs[-1].val_losses) == {"box_loss", "cls_loss", "dfl_loss"}
    final = next(e for e in events if isinstance(e, Final))
    assert final.best_epoch in (1, 2)
    assert set(final.classes) == set(SHAPES)  # the validation table, one row per class
    assert sum(row["Instances"] for row in final.classes.values()) == 8  # one shape per image
    assert all(
        {"Box-P", "Box-R", "mAP50", "mAP50-95"} <= set(row) for row in final.classes.values()
    )
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.epochs_done == 2 and not finished.early_stop
    assert all(isinstance(e, Preparing) for e in events[: events.index(setup)])

    local = folder.events_file.read_text(encoding="utf-8").splitlines()
    seqs = [json.loads(line)["seq"] for line in local]
    assert seqs == list(range(len(local)))
    bucket = training_store.bucket
    assert stored_events(bucket, folder.run_id) == local
    for name in ("train/weights/best.pt", "train/weights/last.pt", "train/results.csv"):
        assert bucket.exists(artifact_key(folder.run_id, name)), name
    record = json.loads(bucket.get_bytes(run_key(folder.run_id, "spec.json")))
    assert record["dataset"] == training_store.ref and record["spec"]["epochs"] == 2
    assert folder.summary().status is RunStatus.FINISHED


def test_pause_then_resume_continues_from_the_next_epoch(training_store: TrainingStore) -> None:
    backend = training_store.backend
    epochs = 6  # room for a slow machine: the pause must land before the last epoch
    folder = backend.launch(training_store.spec(epochs=epochs), training_store.ref)
    before = follow_and_after_epoch_1(training_store, folder, backend.pause)
    paused = before[-1]
    assert isinstance(paused, Paused), before[-1]
    assert paused.resumable and 1 <= paused.epochs_done < epochs
    assert folder.summary().status is RunStatus.PAUSED

    backend.resume(folder)
    after = follow(training_store, folder)[len(before) :]
    setup = next(e for e in after if isinstance(e, Setup))
    assert setup.start_epoch == paused.epochs_done + 1
    resumed_epochs = [e.epoch for e in after if isinstance(e, Epoch)]
    assert resumed_epochs == list(range(paused.epochs_done + 1, epochs + 1))
    first_batch = next(e for e in after if isinstance(e, Batch))
    assert first_batch.epoch == paused.epochs_done + 1
    assert isinstance(after[-1], Finished) and after[-1].epochs_done == epochs
    local = folder.events_file.read_text(encoding="utf-8").splitlines()
    assert stored_events(training_store.bucket, folder.run_id) == local  # "resuming" too


def test_stop_finishes_now_with_validated_weights(training_store: TrainingStore) -> None:
    backend = training_store.backend
    folder = backend.launch(training_store.spec(epochs=50), training_store.ref)
    events = follow_and_after_epoch_1(training_store, folder, backend.stop)
    stopped = events[-1]
    assert isinstance(stopped, Stopped)
    assert 1 <= stopped.epochs_done < 50
    assert any(isinstance(e, Final) for e in events)
    assert (folder.path / "train/weights/best.pt").is_file()
    summary = folder.summary()
    assert summary.status is RunStatus.STOPPED and summary.epochs_done == stopped.epochs_done


def test_fine_tuning_from_an_earlier_run_and_two_runs_at_once(
    training_store: TrainingStore,
) -> None:
    backend = training_store.backend
    base = backend.launch(training_store.spec(), training_store.ref)
    assert isinstance(follow(training_store, base)[-1], Finished)

    first = backend.launch(training_store.spec(model=f"run:{base.run_id}"), training_store.ref)
    second = backend.launch(
        training_store.spec(model=str(base.path / "train/weights/best.pt")), training_store.ref
    )
    assert first.path != second.path
    for folder in (first, second):
        events = follow(training_store, folder)
        assert isinstance(events[-1], Finished), events[-1]
        assert next(e for e in events if isinstance(e, Setup)).model.endswith(
            (base.run_id, "best.pt")
        )
        assert any(isinstance(e, Checkpoint) and e.best for e in events)


def test_a_dataset_without_class_names_fails_with_the_reason(
    training_store: TrainingStore,
) -> None:
    broken = publish(training_store.bucket, "me/nameless", shapes_files(4, 2), class_names=())
    folder = training_store.backend.launch(training_store.spec(), broken.ref)
    failed = follow(training_store, folder)[-1]
    assert isinstance(failed, Failed)
    assert failed.reason == "dataset", failed.message
    assert "class name is required" in failed.message
    assert folder.summary().status is RunStatus.FAILED


def test_a_corrupt_model_file_fails_with_the_reason(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    weights = tmp_path / "base.pt"
    weights.write_bytes(b"this is not a checkpoint" * 100)
    folder = training_store.backend.launch(
        training_store.spec(model=str(weights)), training_store.ref
    )
    failed = follow(training_store, folder)[-1]
    assert isinstance(failed, Failed)
    assert failed.reason == "model"
    assert str(weights) in failed.message


def test_a_killed_worker_is_recorded_as_failed(training_store: TrainingStore) -> None:
    backend = training_store.backend
    folder = backend.launch(training_store.spec(epochs=50), training_store.ref)
    for record in backend.follow(folder, poll_s=0.05):
        if isinstance(record.event, Batch):
            break
    backend.kill(folder)
    last = decode(folder.events_file.read_text().splitlines()[-1])
    assert last is not None and isinstance(last.event, Failed)
    assert last.event.reason == "killed"
    assert not backend.alive(folder)


def test_a_record_from_elsewhere_naming_a_path_as_its_base_run_writes_nothing_outside(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    """A worker is given its run's record by whoever launched it, maybe another machine:
    ``run:/some/path`` must not become ``/some/path-best.pt`` on this one."""
    escape = tmp_path / "escape"
    # The store takes the doubled slash as one: the worker's download would find this.
    training_store.bucket.put_bytes(artifact_key(f"/{escape}", "train/weights/best.pt"), b"w")
    spec = training_store.spec(model=f"run:{escape}")
    folder = training_store.backend.registry.create(spec, training_store.ref, "local")

    worked = run_cli("worker", str(folder.path))

    last = decode(worked.stdout.splitlines()[-1])
    assert last is not None and isinstance(last.event, Failed), worked.stdout
    assert "model: run:<run-id> names an earlier run" in last.event.message
    assert not Path(f"{escape}-best.pt").exists()
