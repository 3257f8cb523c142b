"""The worker as a cluster's pod runs it, controlled and followed through the store alone.

Each pod here is ``datayard worker --from-store RUN_ID`` with only the
environment its Job gives it (tests/fixtures/pods.py), against the real
SeaweedFS, training the tests' tiny dataset on the CPU. Nothing but the store
joins it to the machines that stop, pause, list, follow and fetch its run.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

from datayard.core.training import stored_control
from datayard.core.training.mirror import artifact_key
from datayard.core.training.protocol import (
    RESUMING,
    Epoch,
    Failed,
    Finished,
    Paused,
    Preparing,
    Record,
    Setup,
    Stopped,
)
from datayard.core.training.runs import Control
from datayard.core.training.stored_runs import put_events, put_record
from tests.e2e.test_training import (
    no_network,  # noqa: F401 - every worker stays offline
)
from tests.fixtures.datasets import run_cli
from tests.fixtures.pods import (
    CLUSTER,
    launched_on_cluster,
    one_epoch,
    pod_environment,
    second_machine,
    start_pod,
    store_events,
    stored_records,
    wait_in_store,
)
from tests.fixtures.training import PROFILE, TrainingStore
from tests.fixtures.waits import LONG_S


def after_epoch(number: int) -> object:
    return lambda records: any(
        isinstance(r.event, Epoch) and r.event.epoch == number for r in records
    )


def assert_gapless(records: list[Record]) -> None:
    assert [r.seq for r in records] == list(range(len(records)))


def test_a_pod_trains_from_the_store_and_another_machine_stops_follows_and_fetches_it(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    record = launched_on_cluster(training_store, epochs=50)
    run_id = record.run_id
    pod = start_pod(training_store, run_id, tmp_path / "pod")
    with second_machine(training_store, tmp_path / "machine") as machine:
        follower = machine.start("logs", run_id, "--follow", output=tmp_path / "follow.txt")
        wait_in_store(training_store, run_id, after_epoch(1), pod)

        listed = machine.run("runs", "--all", "--json")
        assert listed.returncode == 0, listed.stderr
        row = next(r for r in json.loads(listed.stdout) if r["run"] == run_id)
        assert (row["status"], row["where"], row["backend"]) == ("running", CLUSTER, CLUSTER)

        stopped = machine.run("stop", run_id)

        assert stopped.returncode == 0, stopped.stderr
        assert "stopped after" in stopped.stdout
        assert pod.wait() == 0, pod.output()
        assert follower.wait(timeout=120) == 0
        followed = (tmp_path / "follow.txt").read_text()
        assert f"{run_id}: yolo11n.yaml on {training_store.ref}" in followed
        assert "stopped after" in followed and "1/50" in followed

        records = stored_records(training_store, run_id)
        assert_gapless(records)
        assert isinstance(records[-1].event, Stopped)
        assert [r.line for r in records] == pod.events()  # the pod's log and the store agree
        assert not training_store.bucket.exists(stored_control.control_key(run_id))

        fetched = machine.run("fetch", run_id[:12], str(tmp_path / "out"))
        assert fetched.returncode == 0, fetched.stderr
        assert (tmp_path / "out" / "weights" / "best.pt").stat().st_size > 1_000_000
        assert json.loads((tmp_path / "out" / "run.json").read_text())["backend"] == CLUSTER
        listed = machine.run("runs", "--all")
        assert listed.returncode == 0, listed.stderr
        line = next(line for line in listed.stdout.splitlines() if run_id in line)
        assert "stopped" in line and CLUSTER in line


def test_a_pod_paused_through_the_store_is_resumed_by_a_new_pod_from_the_stored_checkpoint(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    # The pause must land before the last epoch: it is seen at the worker's next look at
    # the store, a second or two, when a fast machine trains several of these epochs.
    epochs = 20
    run_id = launched_on_cluster(training_store, epochs=epochs).run_id
    first = start_pod(training_store, run_id, tmp_path / "first")
    wait_in_store(training_store, run_id, after_epoch(1), first)

    stored_control.request(training_store.bucket, run_id, Control.PAUSE)

    assert first.wait() == 0, first.output()
    before = stored_records(training_store, run_id)
    paused = before[-1].event
    assert isinstance(paused, Paused) and paused.resumable, paused
    assert 1 <= paused.epochs_done < epochs
    assert training_store.bucket.exists(artifact_key(run_id, "train/weights/last.pt"))
    assert not training_store.bucket.exists(stored_control.control_key(run_id))

    # What `datayard resume` stores before it submits the new Job.
    put_events(training_store.bucket, run_id, [Preparing(phase=RESUMING)])
    second = start_pod(training_store, run_id, tmp_path / "second")  # fresh HOME and runs

    assert second.wait() == 0, second.output()
    records = stored_records(training_store, run_id)
    assert_gapless(records)
    assert [r.line for r in records[: len(before)]] == [r.line for r in before]
    after = [r.event for r in records[len(before) :]]
    resumings = [e for e in after if isinstance(e, Preparing) and e.phase == RESUMING]
    assert after[0] in resumings and len(resumings) == 1, after[:3]
    assert any(isinstance(e, Preparing) and e.phase == "fetching the checkpoint" for e in after)
    setup = next(e for e in after if isinstance(e, Setup))
    assert setup.start_epoch == paused.epochs_done + 1
    assert [e.epoch for e in after if isinstance(e, Epoch)] == list(
        range(paused.epochs_done + 1, epochs + 1)
    )
    assert isinstance(after[-1], Finished) and after[-1].epochs_done == epochs


def pod_command(
    store: TrainingStore, run_id: str, folder: Path, **environment: str | None
) -> subprocess.CompletedProcess[str]:
    """The pod's worker to its end, its environment changed by ``environment`` (``None``
    leaves a variable out)."""
    changed = {**pod_environment(store, folder), **environment}
    return subprocess.run(
        ["datayard", "worker", "--from-store", run_id],
        env={name: value for name, value in changed.items() if value is not None},
        capture_output=True,
        text=True,
        timeout=10 * LONG_S,
    )


def test_a_pod_without_usable_credentials_or_record_says_why_in_one_line(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    run_id = "20261207-101500-0a1b2c"
    secret = "hunter2-not-a-document"

    missing = pod_command(training_store, run_id, tmp_path / "a", DATAYARD_CREDENTIALS=None)
    malformed = pod_command(training_store, run_id, tmp_path / "b", DATAYARD_CREDENTIALS=secret)
    partial = pod_command(
        training_store,
        run_id,
        tmp_path / "c",
        DATAYARD_CREDENTIALS=json.dumps({"profile": {"name": "lab"}, "secret": secret}),
    )
    no_record = pod_command(training_store, run_id, tmp_path / "d")

    for refused in (missing, malformed, partial):
        assert refused.returncode == 2, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert secret not in refused.stderr and "Traceback" not in refused.stderr
    assert missing.stderr.startswith("error: DATAYARD_CREDENTIALS is not set")
    assert "the credentials in DATAYARD_CREDENTIALS" in malformed.stderr
    assert "the credentials in DATAYARD_CREDENTIALS: profile." in partial.stderr
    assert no_record.returncode != 0 and f"runs/{run_id}/spec.json" in no_record.stderr
    assert "Traceback" not in no_record.stderr


def test_a_pod_that_takes_over_from_a_vanished_worker_records_it_failed_and_resumes(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    """The Job's next pod, after one that was evicted after its first epoch: the store has
    no checkpoint here, so the resume fails at once, saying so, after the events that the
    vanished worker stored, numbered on."""
    run_id = launched_on_cluster(training_store, epochs=3).run_id
    store_events(training_store, run_id, one_epoch(epochs=3))

    taken_over = pod_command(training_store, run_id, tmp_path / "pod")

    assert taken_over.returncode == 1, taken_over.stderr
    records = stored_records(training_store, run_id)
    assert_gapless(records)
    vanished, resuming, *_, failed = [r.event for r in records[2:]]
    assert isinstance(vanished, Failed) and vanished.reason == "crashed"
    assert "its worker ended without reporting a result" in vanished.message
    assert isinstance(resuming, Preparing) and resuming.phase == "resuming"
    assert isinstance(failed, Failed) and failed.reason == "checkpoint", failed
    assert [r.line for r in records[4:]] == taken_over.stdout.splitlines()  # its own


def test_runs_in_the_store_are_listed_with_where_they_train_and_resumed_only_on_a_cluster(
    training_store: TrainingStore,
) -> None:
    bucket = training_store.bucket
    elsewhere = launched_on_cluster(training_store)
    put_record(bucket, replace(elsewhere, backend="local"))
    store_events(
        training_store, elsewhere.run_id, [*one_epoch(1), Paused(epochs_done=1, resumable=True)]
    )
    paused = launched_on_cluster(training_store, epochs=3)
    store_events(
        training_store, paused.run_id, [*one_epoch(3), Paused(epochs_done=1, resumable=True)]
    )
    finished = launched_on_cluster(training_store)
    ending = Finished(epochs_done=1, best_epoch=1, weights=())
    store_events(training_store, finished.run_id, [*one_epoch(1), ending])

    listed = run_cli("runs", "--all", "--json", "--profile", PROFILE)

    assert listed.returncode == 0, listed.stderr
    rows = {row["run"]: row for row in json.loads(listed.stdout)}
    assert (rows[elsewhere.run_id]["where"], rows[elsewhere.run_id]["status"]) == (
        "local (another machine)",
        "paused",
    )
    assert (rows[paused.run_id]["where"], rows[paused.run_id]["status"]) == (CLUSTER, "paused")
    assert rows[finished.run_id]["best_map50_95"] == 0.5
    assert run_cli("runs", "--json").stdout.strip() == "[]"  # none of them is this machine's

    other = run_cli("resume", elsewhere.run_id, "--profile", PROFILE)
    assert other.returncode == 2
    assert "launched from another machine (local): resume it there" in other.stderr
    done = run_cli("resume", finished.run_id, "--profile", PROFILE)
    assert done.returncode == 2 and f"run {finished.run_id} is finished" in done.stderr
    cluster = run_cli("resume", paused.run_id, "--profile", PROFILE)
    assert cluster.returncode == 2 and "there is no cluster 'test-cluster'" in cluster.stderr
    assert "datayard cluster add test-cluster" in cluster.stderr
    stop = run_cli("stop", finished.run_id, "--profile", PROFILE)
    assert stop.returncode == 2 and "is not running (finished)" in stop.stderr
    assert not bucket.exists(stored_control.control_key(finished.run_id))
