"""Training against a store that is slow, refuses files, or is shared by two runs.

Workers reach the real store through a proxy (tests/fixtures/store_proxy.py)
that holds the answers to or refuses the requests each test names, and counts
the requests.
"""

from __future__ import annotations

import json
from collections import Counter

from datayard.core.store.layout import blob_key
from datayard.core.training.mirror import artifact_key, run_key
from datayard.core.training.protocol import Epoch, Finished, TrainingEvent
from datayard.core.training.runs import RunStatus
from tests.e2e.test_training import (
    TWO_EPOCHS,
    follow,
    kinds,
    no_network,  # noqa: F401 - every worker stays offline
    stored_events,
)
from tests.fixtures.datasets import run_cli
from tests.fixtures.store_proxy import StoreProxy, blob_request, writes_to
from tests.fixtures.training import TrainingStore


def run_writes(method: str, path: str) -> bool:
    return method in ("PUT", "POST") and "/runs/" in path.split("?")[0]


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
            # Both epochs trained while the store kept the run's first upload waiting.
            assert held.waiting == 1 and store_proxy.count(run_writes) == 1
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
