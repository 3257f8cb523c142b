"""The training commands as a user runs them, on a real tiny training."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_training import no_network  # noqa: F401 - every worker stays offline
from tests.fixtures.datasets import run_cli
from tests.fixtures.training import PROFILE, TrainingStore

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

    logs = run_cli("logs", run["run"][:12])
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.count("/2 ") == 2 and "finished" in logs.stdout

    fetched = run_cli("fetch", "last", str(tmp_path / "out"))
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "out" / "weights" / "best.pt").stat().st_size > 1_000_000
    assert (tmp_path / "out" / "results.csv").read_text().count("\n") == 3

    missing = run_cli("fetch", "20200101-000000-abcdef", str(tmp_path / "x"), "--profile", PROFILE)
    assert missing.returncode == 2 and "no results for run" in missing.stderr

    exported = run_cli("export", "last", "--half", "--int8")
    assert exported.returncode == 0, exported.stderr
    for label in ("PyTorch (full)", "ONNX FP32", "ONNX FP16", "ONNX INT8"):
        assert label in exported.stdout
    folder = training_store.backend.registry.get(run["run"])
    sizes = {p.name: p.stat().st_size for p in (folder.path / "exports").iterdir()}
    assert sizes["best-fp16.onnx"] < sizes["best-fp32.onnx"]
    assert sizes["best-int8.onnx"] < sizes["best-fp16.onnx"]

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
    bad_arg = run_cli("train", "me/shapes", "--arg", "mosaic", "--profile", PROFILE)
    assert bad_arg.returncode == 2 and "KEY=VALUE" in bad_arg.stderr
    unknown = run_cli("stop", "no-such-run")
    assert unknown.returncode == 2 and "no run 'no-such-run'" in unknown.stderr
    assert run_cli("runs", "--json").stdout.strip() == "[]"
