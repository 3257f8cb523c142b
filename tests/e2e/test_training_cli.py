"""The training commands as a user runs them, on a real tiny training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from datayard.core.training.protocol import Epoch, TrainingEvent
from datayard.core.training.runs import RunFolder, RunStatus
from datayard.core.training.stored_runs import put_record, stored_record
from tests.e2e.test_training import no_network  # noqa: F401 - every worker stays offline
from tests.fixtures.datasets import run_cli
from tests.fixtures.services import datayard_command
from tests.fixtures.store_proxy import StoreProxy, blob_request
from tests.fixtures.training import PROFILE, TrainingStore
from tests.fixtures.waits import LONG_S

TINY = ("--epochs", "2", "--batch", "4", "--imgsz", "64", "--workers", "0", "--device", "cpu")


def test_train_runs_logs_fetch_and_export(training_store: TrainingStore, tmp_path: Path) -> None:
    trained = run_cli("train", "me/shapes", *TINY, "--no-plots", "--profile", PROFILE)
    assert trained.returncode == 0, trained.stderr
    assert "mAP50-95" in trained.stdout
    assert "2/2" in trained.stdout and "finished after 2 epochs" in trained.stdout

    listed = run_cli("runs", "--json")
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["status"] == "finished" and run["epochs_done"] == 2
    assert run["dataset"] == training_store.ref

    shown = run_cli("show-run", run["name"])
    assert shown.returncode == 0, shown.stderr
    assert "Final validation of best.pt: mAP50 " in shown.stdout and "Per class" in shown.stdout
    assert "square" in shown.stdout and "disc" in shown.stdout and "mAP50-95" in shown.stdout
    detail = json.loads(run_cli("show-run", run["run"], "--json").stdout)
    assert set(detail["classes"]) == {"square", "disc"} and detail["status"] == "finished"

    logs = run_cli("logs", run["run"][:12])
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.count("/2 ") == 2 and "finished" in logs.stdout

    fetched = run_cli("fetch", "last", str(tmp_path / "out"))
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "out" / "weights" / "best.pt").stat().st_size > 1_000_000
    assert (tmp_path / "out" / "results.csv").read_text().count("\n") == 3

    missing = run_cli("fetch", "20200101-000000-abcdef", str(tmp_path / "x"), "--profile", PROFILE)
    assert missing.returncode == 2
    assert "no run '20200101-000000-abcdef' on this machine or in the store" in missing.stderr

    exported = run_cli("export", "last", "--half", "--int8")
    assert exported.returncode == 0, exported.stderr
    for label in ("PyTorch (full)", "ONNX FP32", "ONNX FP16", "ONNX INT8"):
        assert label in exported.stdout
    folder = training_store.backend.registry.get(run["run"])
    sizes = {p.name: p.stat().st_size for p in (folder.path / "exports").iterdir()}
    assert sizes["best-fp16.onnx"] < sizes["best-fp32.onnx"]
    assert sizes["best-int8.onnx"] < sizes["best-fp16.onnx"]

    # The scores travel with the weights when the run becomes a model.
    promoted = run_cli("models", "promote", run["run"], "--name", "me/s", "--json")
    assert promoted.returncode == 0, promoted.stderr
    exports = json.loads(promoted.stdout)["lineage"]["exports"]
    assert [(e["file"], e["bytes"], e["label"]) for e in exports] == [
        ("best-fp16.onnx", sizes["best-fp16.onnx"], "ONNX FP16"),
        ("best-fp32.onnx", sizes["best-fp32.onnx"], "ONNX FP32"),
        ("best-int8.onnx", sizes["best-int8.onnx"], "ONNX INT8"),
    ]
    table = exported.stdout.split("ONNX INT8", 1)[1].split()
    int8 = exports[2]["metrics"]
    assert f"{int8['mAP50']:.4f}" in table and f"{int8['mAP50-95']:.4f}" in table
    shown = run_cli("models", "show", "me/s", "--profile", PROFILE).stdout
    assert "Exports" in shown and "best-int8.onnx" in shown

    # A run launched on another machine: only the store has it.
    folder.path.rename(tmp_path / "moved-away")
    elsewhere = run_cli("fetch", run["run"], str(tmp_path / "remote"), "--profile", PROFILE)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert (tmp_path / "remote" / "weights" / "best.pt").stat().st_size > 1_000_000
    assert json.loads((tmp_path / "remote" / "run.json").read_text())["run_id"] == run["run"]


def test_bad_values_are_refused_before_anything_starts(training_store: TrainingStore) -> None:
    refused = run_cli("train", "me/shapes", "--epochs", "0", "--imgsz", "100", "--profile", PROFILE)
    assert refused.returncode == 2
    assert "epochs:" in refused.stderr and "multiple of 32" in refused.stderr
    assert "Traceback" not in refused.stderr
    no_wait = run_cli("train", "me/shapes", "--store-wait", "-1", "--profile", PROFILE)
    assert no_wait.returncode == 2 and "store_wait: a whole number of seconds" in no_wait.stderr
    bad_arg = run_cli("train", "me/shapes", "--arg", "mosaic", "--profile", PROFILE)
    assert bad_arg.returncode == 2 and "KEY=VALUE" in bad_arg.stderr
    unknown = run_cli("stop", "no-such-run")
    assert unknown.returncode == 2 and "no run 'no-such-run'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    debug = run_cli("--debug", "stop", "no-such-run")  # what a bug report needs
    assert debug.returncode == 2 and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == unknown.stderr.strip()
    assert run_cli("runs", "--json").stdout.strip() == "[]"


def wait_for(
    store: TrainingStore, folder: RunFolder, kind: type[TrainingEvent], after: int = 0
) -> None:
    """Until the run reports an event of ``kind`` past sequence number ``after``."""
    for record in store.backend.follow(folder, poll_s=0.05, from_seq=after):
        if isinstance(record.event, kind):
            return
    raise AssertionError(
        f"run {folder.run_id} ended before a {kind.TYPE} event: {folder.events()[-3:]}"
    )


def test_ctrl_c_stops_watching_and_the_run_goes_on(
    training_store: TrainingStore, store_proxy: StoreProxy
) -> None:
    # The worker's dataset pull is held: the run cannot move, let alone end, before Ctrl-C.
    pull = store_proxy.hold(blob_request("GET"))
    profile = training_store.through(store_proxy)
    watching = subprocess.Popen(
        datayard_command("train", "me/shapes", *TINY, "--no-plots", "--profile", profile),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's foreground group, which Ctrl-C signals whole
    )
    assert watching.stderr is not None
    launched = watching.stderr.readline()  # "run <id> launched on me/shapes@..."
    folder = training_store.backend.registry.get(launched.split()[1])
    assert pull.holding.wait(LONG_S), "the worker did not start pulling the dataset"

    os.killpg(watching.pid, signal.SIGINT)
    try:
        shown, said = watching.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        watching.kill()
        shown, said = watching.communicate()
        raise AssertionError(f"Ctrl-C did not end the command:\n{shown}\n{said}") from None
    finally:
        pull.release()

    assert watching.returncode == 130, f"{shown}\n{said}\n{folder.events()[-3:]}"
    assert f"run {folder.run_id} goes on in the background" in said
    followed = run_cli("logs", folder.run_id, "--follow")
    assert followed.returncode == 0, followed.stderr
    assert "1/2" in followed.stdout and "2/2" in followed.stdout
    assert "finished after 2 epochs" in followed.stdout


def test_pause_resume_and_stop_a_live_run_then_clone_and_kill_it(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    # More epochs than the test lets it train: under any load, the run is still going when
    # each command reaches it.
    saved = training_store.spec(epochs=300, profile=PROFILE, lr0=0.02)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(saved.to_json())
    launched = run_cli("train", "me/shapes", "--spec", str(spec_file), "--detach")
    assert launched.returncode == 0, launched.stderr
    folder = training_store.backend.registry.get(launched.stdout.strip())
    assert folder.record().spec == saved
    wait_for(training_store, folder, Epoch)

    paused = run_cli("pause", folder.run_id)
    assert paused.returncode == 0, paused.stderr
    assert "paused after epoch" in paused.stdout and "datayard resume" in paused.stdout
    (listed,) = json.loads(run_cli("runs", "--json").stdout)
    assert listed["status"] == "paused"

    resumed_from = folder.next_seq()
    resuming = subprocess.Popen(
        datayard_command("resume", folder.run_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert resuming.stderr is not None
    assert resuming.stderr.readline() == f"run {folder.run_id} resumed\n"
    wait_for(training_store, folder, Epoch, after=resumed_from)
    stopped = run_cli("stop", folder.run_id)
    watched, _ = resuming.communicate(timeout=120)

    assert stopped.returncode == 0 and "stopped after" in stopped.stdout, stopped.stderr
    assert resuming.returncode == 0 and "stopped after" in watched
    assert folder.summary().status is RunStatus.STOPPED

    cloned = run_cli("train", "me/shapes", "--clone", folder.run_id, "--epochs", "200", "--detach")
    assert cloned.returncode == 0, cloned.stderr
    clone = training_store.backend.registry.get(cloned.stdout.strip())
    assert clone.record().cloned_from == folder.run_id
    assert clone.record().spec == saved.with_changes(epochs=200)
    killed = run_cli("stop", clone.run_id, "--kill")
    assert killed.returncode == 0 and f"run {clone.run_id} killed" in killed.stderr
    assert clone.summary().status is RunStatus.FAILED


def test_runs_go_by_their_names_which_runs_rename_changes_here_and_in_the_store(
    training_store: TrainingStore,
) -> None:
    registry = training_store.backend.registry
    folder = registry.create(training_store.spec(), training_store.ref, "local")
    put_record(training_store.bucket, folder.record())  # as its worker stores it
    (listed,) = json.loads(run_cli("runs", "--json").stdout)
    assert listed["name"] == "shapes-yolo11n-1"
    assert "shapes-yolo11n-1" in run_cli("runs").stdout

    renamed = run_cli("runs", "rename", "shapes-yolo11n-1", "night-1")
    assert renamed.returncode == 0, renamed.stderr
    assert f"run {folder.run_id} is now named night-1" in renamed.stdout
    assert stored_record(training_store.bucket, folder.run_id).name == "night-1"
    logs = run_cli("logs", "night-1")  # the name finds the run (whose worker never started)
    assert f"`datayard train --clone {folder.run_id}` starts it again" in logs.stdout

    for name, problem in (("a b", "run name 'a b' is not valid"), ("night-1", "")):
        refused = run_cli("runs", "rename", folder.run_id[:12], name)
        if problem:
            assert refused.returncode == 2 and problem in refused.stderr
        else:
            assert refused.returncode == 0  # its own name again
    missing = run_cli("runs", "rename", "nothing-here", "x")
    assert missing.returncode == 2 and "no run 'nothing-here' on this machine" in missing.stderr
