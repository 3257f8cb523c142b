"""Training against a store that is slow, goes away, refuses files, or is shared by two runs.

Workers reach the real store through a proxy (tests/fixtures/store_proxy.py)
that holds the answers to, refuses or cuts off the requests each test names,
and counts the requests. A store goes away when the run reports set-up, never
after a sleep.
"""

from __future__ import annotations

import json
from collections import Counter

from datayard.core.store.layout import blob_key
from datayard.core.training.mirror import artifact_key, run_key
from datayard.core.training.protocol import Epoch, Failed, Finished, Setup, TrainingEvent
from datayard.core.training.runs import RunFolder, RunStatus
from datayard.core.training.spec import STORE_WAIT_MAX_S
from tests.e2e.test_training import (
    TWO_EPOCHS,
    follow,
    kinds,
    no_network,  # noqa: F401 - every worker stays offline
    stored_events,
)
from tests.fixtures.datasets import run_cli
from tests.fixtures.store_proxy import Failure, StoreProxy, blob_request, writes_to
from tests.fixtures.training import TrainingStore
from tests.fixtures.waits import until


def run_writes(method: str, path: str) -> bool:
    return method in ("PUT", "POST") and "/runs/" in path.split("?")[0]


def assert_store_has_a_beginning(store: TrainingStore, folder: RunFolder) -> None:
    """A reader of the store's copy of the events never sees a gap: it always holds the
    run's first events, in order, and nothing else."""
    stored = stored_events(store.bucket, folder.run_id)
    assert stored == folder.events_file.read_text(encoding="utf-8").splitlines()[: len(stored)]


def test_a_store_that_stops_answering_does_not_hold_the_training_up(
    training_store: TrainingStore, store_proxy: StoreProxy
) -> None:
    held = store_proxy.hold(run_writes)
    spec = training_store.spec(epochs=2, profile=training_store.through(store_proxy))
    folder = training_store.backend.launch(spec, training_store.ref)

    events: list[TrainingEvent] = []
    for record in training_store.backend.follow(folder, poll_s=0.05):
        events.append(record.event)
        if isinstance(record.event, Epoch) and record.event.epoch == 2:
            # Both epochs trained while the store kept the run's first uploads waiting: the
            # first events and spec.json, one on each of the mirror's threads.
            assert until(lambda: held.waiting == 2)
            assert store_proxy.count(run_writes) == 2
            held.release()

    assert kinds(events) == TWO_EPOCHS
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.unstored == ()
    # The mirror caught up: every event and file of the run is in the store.
    bucket, run = training_store.bucket, folder.run_id
    assert stored_events(bucket, run) == folder.events_file.read_text().splitlines()
    for name in ("train/weights/best.pt", "train/weights/last.pt", "train/results.csv"):
        assert bucket.exists(artifact_key(run, name)), name


def test_two_runs_on_one_version_share_one_pull(
    training_store: TrainingStore, store_proxy: StoreProxy
) -> None:
    spec = training_store.spec(profile=training_store.through(store_proxy))
    first, second = (training_store.backend.launch(spec, training_store.ref) for _ in range(2))

    for folder in (first, second):
        assert isinstance(follow(training_store, folder)[-1], Finished)

    reads = Counter(path for _, path in store_proxy.requests(blob_request("GET")))
    bucket = training_store.bucket.name
    blobs = {f"/{bucket}/{blob_key(file.sha256)}" for file in training_store.manifest.files}
    assert set(reads) == blobs and set(reads.values()) == {1}


def test_a_store_that_refuses_some_files_leaves_the_run_saying_which(
    training_store: TrainingStore, store_proxy: StoreProxy
) -> None:
    store_proxy.refuse(writes_to("/best.pt"))  # every time, as a policy against weights would
    spec_refused = store_proxy.refuse(writes_to("/spec.json"), times=1)  # taken when tried again
    spec = training_store.spec(profile=training_store.through(store_proxy))
    folder = training_store.backend.launch(spec, training_store.ref)

    finished = follow(training_store, folder)[-1]

    assert isinstance(finished, Finished)
    assert finished.unstored == ("artifacts/train/weights/best.pt",)
    bucket, run = training_store.bucket, folder.run_id
    assert not bucket.exists(artifact_key(run, "train/weights/best.pt"))
    assert bucket.exists(artifact_key(run, "train/weights/last.pt"))
    assert spec_refused.claimed == 1
    assert bucket.exists(run_key(run, "spec.json"))
    summary = folder.summary()
    assert summary.status is RunStatus.FINISHED
    assert summary.label == "finished, 1 file not stored"
    (listed,) = json.loads(run_cli("runs", "--json").stdout)
    assert listed["status"] == "finished"
    assert listed["unstored"] == ["artifacts/train/weights/best.pt"]
    logs = run_cli("logs", run).stdout
    assert "not in the store, only in the run's folder" in logs
    assert "artifacts/train/weights/best.pt" in logs


def test_a_store_away_in_the_middle_of_a_run_gets_all_of_it_once_it_answers_again(
    training_store: TrainingStore, store_proxy: StoreProxy
) -> None:
    spec = training_store.spec(epochs=3, profile=training_store.through(store_proxy))
    folder = training_store.backend.launch(spec, training_store.ref)

    def waited(part: str) -> bool:
        return any(part in path for _, path in store_proxy.requests(run_writes)[before:])

    events: list[TrainingEvent] = []
    away: Failure | None = None
    before = 0
    for record in training_store.backend.follow(folder, poll_s=0.05):
        events.append(record.event)
        assert_store_has_a_beginning(training_store, folder)
        if isinstance(record.event, Setup) and away is None:
            away = store_proxy.cut_off(run_writes)  # as a tunnel that closed
            before = store_proxy.count(run_writes)
        elif isinstance(record.event, Epoch) and record.event.epoch == 2:
            # Two epochs trained while the store was away; their events and files waited.
            assert away is not None
            assert until(lambda: waited("/events/") and waited("/artifacts/"))
            away.lift()

    finished = events[-1]
    assert isinstance(finished, Finished) and finished.epochs_done == 3
    assert finished.unstored == ()
    bucket, run = training_store.bucket, folder.run_id
    assert stored_events(bucket, run) == folder.events_file.read_text().splitlines()
    for name in ("train/results.csv", "train/weights/best.pt", "train/weights/last.pt"):
        assert bucket.get_bytes(artifact_key(run, name)) == (folder.path / name).read_bytes(), name
    assert not folder.mirror_dir.exists()


def test_a_store_still_away_when_a_run_ends_is_waited_for_a_bounded_time_then_named(
    training_store: TrainingStore, store_proxy: StoreProxy
) -> None:
    spec = training_store.spec(store_wait=1, profile=training_store.through(store_proxy))
    folder = training_store.backend.launch(spec, training_store.ref)

    events: list[TrainingEvent] = []
    for record in training_store.backend.follow(folder, poll_s=0.05):
        events.append(record.event)
        assert_store_has_a_beginning(training_store, folder)
        if isinstance(record.event, Setup):
            store_proxy.cut_off(run_writes)  # and never back

    # The run ended though the store never came back, and says what the store lacks.
    finished = events[-1]
    assert isinstance(finished, Finished)
    files = [name for name in finished.unstored if name.startswith("artifacts/")]
    assert {
        "artifacts/train/results.csv",
        "artifacts/train/weights/best.pt",
        "artifacts/train/weights/last.pt",
        "artifacts/worker.log",
    } <= set(files)
    (named,) = [name for name in finished.unstored if name.startswith("events/")]
    bucket, run = training_store.bucket, folder.run_id
    local = folder.events_file.read_text(encoding="utf-8").splitlines()
    first_missing = int(named.removeprefix("events/").removesuffix(".jsonl"))
    assert stored_events(bucket, run) == local[:first_missing]
    # Nothing is lost: every event and file is in the run's folder.
    assert [json.loads(line)["seq"] for line in local] == list(range(len(local)))
    assert json.loads(local[-1])["type"] == "finished"
    for name in files:
        assert not bucket.exists(run_key(run, name)), name
        assert (folder.path / name.removeprefix("artifacts/")).is_file(), name
    assert not folder.mirror_dir.exists()


def test_a_run_that_cannot_reach_its_store_fails_without_waiting_for_it(
    training_store: TrainingStore, store_proxy: StoreProxy
) -> None:
    store_proxy.cut_off(lambda method, path: True)  # from the start: the dataset cannot come
    profile = training_store.through(store_proxy)
    spec = training_store.spec(store_wait=STORE_WAIT_MAX_S, profile=profile)
    folder = training_store.backend.launch(spec, training_store.ref)

    # The end does not wait out store_wait (the suite's timeout would end the test first).
    failed = follow(training_store, folder)[-1]

    assert isinstance(failed, Failed) and failed.reason == "store"
    assert {"spec.json", "artifacts/worker.log"} <= set(failed.unstored)
    assert not training_store.bucket.exists(run_key(folder.run_id, "spec.json"))
    assert stored_events(training_store.bucket, folder.run_id) == []
