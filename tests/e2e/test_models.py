"""Models in the store, against a real SeaweedFS and real YOLO weights: the commands a
user types, and adding a model while gc runs, in the interleavings that matter."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from datayard.core.errors import StoreLockedError
from datayard.core.events import Checkpoint, Finished, Waiting, run_to_end
from datayard.core.models.store import add_model, pull_weights, remove_model
from datayard.core.models.version import ModelCatalog, ModelRef, ModelVersion, WeightsFacts
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import BLOBS, MODELS, blob_key, version_key
from datayard.core.store.locks import LockTiming
from datayard.core.training.protocol import Final
from datayard.core.upkeep.gc import GcResult, collect_garbage
from tests.e2e.test_training import HOOK
from tests.fixtures.datasets import add_profile, fresh_bucket, publish, run_cli
from tests.fixtures.interleave import Interleaving
from tests.fixtures.services import S3Server
from tests.fixtures.training import PROFILE, TrainingStore, shapes_files

pytestmark = pytest.mark.usefixtures("secret_service")

LAB = ("--profile", "lab")
QUICK = LockTiming(poll_s=0.05)
FACTS = WeightsFacts("detect", ("square", "disc"), "yolo11n", 2_590_230, 64)
"""What the session's base weights are (checked against Ultralytics by the CLI test)."""


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    bucket = fresh_bucket(s3_server)
    add_profile(s3_server, bucket)
    return bucket


@pytest.fixture
def weights(base_weights: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(base_weights, tmp_path / "shapes.pt"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored(bucket: Bucket) -> set[str]:
    return {item.key.rsplit("/", 1)[1] for item in bucket.objects(BLOBS)}


def cli_json(*args: str) -> object:
    return cli_json_on("lab", *args)


def cli_json_on(profile: str, *args: str) -> object:
    done = run_cli(*args, "--profile", profile, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_add_list_show_pull_and_remove_then_gc_frees_the_weights(
    bucket: Bucket, weights: Path, tmp_path: Path
) -> None:
    added = cli_json("models", "add", str(weights), "--name", "shapes-base", "-m", "one epoch")
    assert isinstance(added, dict)
    assert added["number"] == 1 and added["message"] == "one epoch"
    assert (added["task"], added["class_names"]) == ("detect", ["square", "disc"])
    assert (added["architecture"], added["imgsz"]) == ("yolo11n", 64)
    assert added["parameters"] > 1_000_000 and added["bytes"] == weights.stat().st_size
    assert added["sha256"] == digest(weights) and added["source"] == str(weights)

    again = run_cli("models", "add", str(weights), "--name", "shapes-base", *LAB)
    assert again.returncode == 0, again.stderr
    assert "Added" in again.stdout and " v2 " in again.stdout
    assert "detect, 2 classes, yolo11n, 2.6 M parameters, trained at 64 px" in again.stdout

    (model,) = cli_json("models", "list")  # type: ignore[misc]
    assert [v["number"] for v in model["versions"]] == [1, 2]
    assert model["versions"][1]["parent"] == added["id"]
    table = run_cli("models", "list", *LAB).stdout
    assert "shapes-base" in table and "square, disc" in table and "one epoch" in table

    first = cli_json("models", "show", "shapes-base@v1")
    assert isinstance(first, dict) and first["id"] == added["id"]
    latest = cli_json("models", "show", "shapes-base@latest")
    assert isinstance(latest, dict) and latest["number"] == 2
    shown = run_cli("models", "show", "shapes-base", *LAB).stdout
    assert f"v2: {latest['ref']}" in shown and f"sha256 {digest(weights)}" in shown

    pulled = run_cli("models", "pull", "shapes-base@v1", str(tmp_path), *LAB)
    assert pulled.returncode == 0, pulled.stderr
    assert digest(tmp_path / "shapes-base-v1.pt") == digest(weights)
    named = tmp_path / "mine.pt"
    assert run_cli("models", "pull", "shapes-base", str(named), *LAB).returncode == 0
    assert digest(named) == digest(weights)

    assert digest(weights) in stored(bucket)
    kept = run_to_end(collect_garbage(bucket, delete=True), GcResult)
    assert kept.models == 2 and kept.deleted == ()  # both versions name the weights

    refused = run_cli("models", "remove", "shapes-base", *LAB)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    removed = run_cli("models", "remove", "shapes-base", "--yes", *LAB)
    assert removed.returncode == 0, removed.stderr
    assert "Removed" in removed.stdout and "2 versions" in removed.stdout
    assert cli_json("models", "list") == []
    freed = run_to_end(collect_garbage(bucket, delete=True), GcResult)
    assert freed.deleted == (digest(weights),)


def test_what_is_not_usable_weights_is_refused_with_the_reason_and_stores_nothing(
    bucket: Bucket, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"this is not a checkpoint" * 100)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx")
    for args, message in (
        ((str(fake), "--name", "x"), f"{fake} is not YOLO weights"),
        ((str(onnx), "--name", "x"), "is not PyTorch weights (.pt)"),
        ((str(tmp_path / "gone.pt"), "--name", "x"), "is not a file"),
        ((str(fake), "--name", "bad name"), "model name 'bad name' is not valid"),
        ((str(fake), "--name", "x@v2"), "name the model without a version"),
    ):
        done = run_cli("models", "add", *args, *LAB)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
    assert list(bucket.objects("")) == []
    for args, message in (
        (("show", "nothing"), "there is no model"),
        (("show", "x@v0"), "is not a version"),
        (("pull", "nothing", str(tmp_path)), "there is no model"),
        (("remove", "nothing", "--yes"), "there is no model"),
    ):
        done = run_cli("models", *args, *LAB)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)


def adding(
    bucket: Bucket, weights: Path, name: str = "base"
) -> Callable[[Checkpoint], Iterator[object]]:
    def operation(checkpoint: Checkpoint) -> Iterator[object]:
        return add_model(
            bucket,
            weights,
            FACTS,
            ModelRef("ada", name),
            source=str(weights),
            timing=QUICK,
            checkpoint=checkpoint,
        )

    return operation


def collecting(bucket: Bucket) -> Callable[[Checkpoint], Iterator[object]]:
    def operation(checkpoint: Checkpoint) -> Iterator[object]:
        return collect_garbage(bucket, delete=True, timing=QUICK, checkpoint=checkpoint)

    return operation


def result_of(events: list[object], kind: type) -> object:
    (found,) = [e.result for e in events if isinstance(e, Finished) and isinstance(e.result, kind)]
    return found


def test_gc_waits_for_a_model_being_added_and_keeps_its_weights(
    bucket: Bucket, weights: Path, tmp_path: Path
) -> None:
    steps = Interleaving()
    steps.start("add", adding(bucket, weights))
    steps.run_until("add", "blob-stored")  # the weights are stored; no version names them yet
    assert digest(weights) in stored(bucket)
    with pytest.raises(StoreLockedError, match=r"add of model ada/base .* is in progress"):
        run_to_end(collect_garbage(bucket, delete=True, wait=False), GcResult)
    steps.start("gc", collecting(bucket))
    steps.run_until("gc", "backed-off")  # saw the add's lock, withdrew its own
    version = result_of(steps.finish("add"), ModelVersion)
    gc_events = steps.finish("gc")
    assert any("add of model ada/base" in e.reason for e in gc_events if isinstance(e, Waiting))
    assert result_of(gc_events, GcResult).deleted == ()  # type: ignore[attr-defined]
    assert isinstance(version, ModelVersion)
    pulled = pull_weights(bucket, version, tmp_path / "pulled.pt")
    assert digest(pulled) == digest(weights)


def test_a_model_added_while_gc_deletes_its_weights_waits_then_stores_them_again(
    bucket: Bucket, weights: Path, tmp_path: Path
) -> None:
    run_to_end(adding(bucket, weights, "old")(lambda _step: None), ModelVersion)
    remove_model(bucket, "ada", "old")  # its weights are garbage now
    steps = Interleaving()
    steps.start("gc", collecting(bucket))
    steps.run_until("gc", "manifests-read")  # gc has decided: the weights go
    steps.start("add", adding(bucket, weights, "new"))
    steps.run_until("add", "locks-listed")  # the add has seen the gc's lock ...
    steps.run_until("add", "locks-listed")  # ... and looks again: it waits
    assert result_of(steps.finish("gc"), GcResult).deleted == (digest(weights),)  # type: ignore[attr-defined]
    events = steps.finish("add")
    assert any(e.reason.startswith("waiting for gc by ") for e in events if isinstance(e, Waiting))
    version = result_of(events, ModelVersion)
    assert isinstance(version, ModelVersion) and digest(weights) in stored(bucket)
    assert digest(pull_weights(bucket, version, tmp_path / "p.pt")) == digest(weights)


def test_an_unreadable_model_version_is_listed_with_the_reason_and_stops_gc(
    bucket: Bucket, weights: Path
) -> None:
    good = run_to_end(adding(bucket, weights)(lambda _step: None), ModelVersion)
    orphan = hashlib.sha256(b"orphan").hexdigest()
    bucket.put_bytes(blob_key(orphan), b"orphan")
    bad_key = version_key("mallory", "evil", "20260101T000000Z-0badf00d", MODELS)
    hostile = json.loads(good.to_json())
    hostile.update(owner="mallory", name="evil", id="20260101T000000Z-0badf00d")
    hostile["weights"]["sha256"] = "../../etc/passwd"
    bucket.put_bytes(bad_key, json.dumps(hostile).encode())

    listed = run_cli("models", "list", *LAB)
    assert listed.returncode == 0 and "ada/base" in listed.stdout
    assert f"cannot be read: {bad_key}: weights.sha256 is not a sha256 digest" in listed.stdout
    refused = run_cli("gc", "--delete", *LAB)
    assert refused.returncode != 0 and "gc deleted nothing" in refused.stderr
    assert "every model version" in refused.stderr
    assert orphan in stored(bucket)
    assert ModelCatalog(bucket).version(ModelRef("ada", "base")).id == good.id


def test_another_machine_fine_tunes_from_a_stored_model_with_the_store_as_only_link(
    training_store: TrainingStore,
    base_weights: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    weights = Path(shutil.copy(base_weights, tmp_path / "base.pt"))
    added = run_cli("models", "add", str(weights), "--name", "me/shapes-base", "--profile", PROFILE)
    assert added.returncode == 0, added.stderr
    stored_version = ModelCatalog(training_store.bucket).version(ModelRef("me", "shapes-base"))
    weights.unlink()  # from now on only the store has these bytes

    other = tmp_path / "other-machine"
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(variable, str(other / variable.lower()))
    add_profile(training_store.server, training_store.bucket, PROFILE)
    tiny = ("--epochs", "1", "--batch", "4", "--imgsz", "64", "--workers", "0", "--device", "cpu")
    trained = run_cli(
        "train",
        "me/shapes",
        "--model",
        "model:me/shapes-base",
        *tiny,
        "--no-plots",
        "--profile",
        PROFILE,
    )
    assert trained.returncode == 0, trained.stderr
    assert f"fine-tuning {stored_version.ref}" in trained.stderr
    assert "finished after 1 epoch" in trained.stdout

    (run,) = json.loads(run_cli("runs", "--json").stdout)
    assert run["model"] == f"model:{stored_version.ref}"  # pinned: a later version changes nothing
    cached = other / "xdg_cache_home" / "datayard" / "models" / f"{stored_version.sha256}.pt"
    assert digest(cached) == stored_version.sha256

    gone = run_cli("train", "me/shapes", "--model", "model:me/nothing", *tiny, "--profile", PROFILE)
    assert gone.returncode == 2 and "there is no model me/nothing" in gone.stderr


def test_promote_a_run_here_and_one_only_the_store_has_with_their_lineage(
    training_store: TrainingStore, tmp_path: Path
) -> None:
    backend = training_store.backend
    folder = backend.launch(training_store.spec(), training_store.ref)
    events = [record.event for record in backend.follow(folder, poll_s=0.05)]
    (final,) = [event for event in events if isinstance(event, Final)]
    export = folder.path / "exports" / "best-fp16.onnx"
    export.parent.mkdir()
    export.write_bytes(b"x" * 1234)  # what `datayard export` leaves there

    promoted = cli_json_on(PROFILE, "models", "promote", folder.run_id[:12], "--name", "me/s")
    assert isinstance(promoted, dict) and promoted["number"] == 1
    lineage = promoted["lineage"]
    assert lineage["run"] == folder.run_id and lineage["dataset"] == training_store.ref
    assert lineage["metrics"] == final.metrics and lineage["spec"]["epochs"] == 1
    assert lineage["classes"] == final.classes and set(final.classes) == {"square", "disc"}
    assert lineage["exports"] == [{"file": "best-fp16.onnx", "bytes": 1234}]
    assert promoted["source"] == f"run:{folder.run_id}"
    assert promoted["sha256"] == digest(folder.weights_dir / "best.pt")
    assert promoted["class_names"] == ["square", "disc"]

    shown = run_cli("models", "show", "me/s", "--profile", PROFILE).stdout
    assert folder.run_id in shown and training_store.ref in shown and "mAP50-95" in shown
    assert "Per class" in shown and "square" in shown
    dataset = cli_json_on(PROFILE, "show", "me/shapes")
    assert isinstance(dataset, dict)
    assert dataset["models"] == [
        {"model": "me/s@v1", "run": folder.run_id, "mAP50-95": final.metrics["mAP50-95"]}
    ]
    assert "Models trained on it" in run_cli("show", "me/shapes", "--profile", PROFILE).stdout

    # Launched on another machine: only the store has the run, and its weights.
    folder.path.rename(tmp_path / "moved-away")
    again = cli_json_on(PROFILE, "models", "promote", folder.run_id, "--name", "me/s", "-m", "2")
    assert isinstance(again, dict) and again["number"] == 2 and again["message"] == "2"
    assert again["lineage"]["metrics"] == final.metrics
    assert again["sha256"] == promoted["sha256"] and again["lineage"]["exports"] == []


def test_a_run_that_did_not_finish_is_not_promoted(training_store: TrainingStore) -> None:
    nameless = publish(training_store.bucket, "me/nameless", shapes_files(4, 2), class_names=())
    folder = training_store.backend.launch(training_store.spec(), nameless.ref)
    for _ in training_store.backend.follow(folder, poll_s=0.05):
        pass
    refused = run_cli("models", "promote", folder.run_id, "--name", "x", "--profile", PROFILE)
    assert refused.returncode == 2, refused.stderr
    assert f"run {folder.run_id} is failed: only a finished or stopped run" in refused.stderr
    assert ModelCatalog(training_store.bucket).names() == {}
    unknown = run_cli("models", "promote", "20200101-000000-abcdef", "--name", "x", *LAB)
    assert unknown.returncode == 2 and "no run '20200101-000000-abcdef'" in unknown.stderr


def test_fetch_offline_says_how_to_add_the_official_weights_by_hand(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No download in tests: every connection beyond loopback is refused, as on a machine
    without internet. (Ultralytics' download address is fixed to github.com, so its
    online path cannot be pointed at a local server.)"""
    attempts = tmp_path / "network.log"
    monkeypatch.setenv("PYTHONPATH", str(HOOK))
    monkeypatch.setenv("DATAYARD_NETWORK_LOG", str(attempts))
    offline = run_cli("models", "fetch", "yolo11n", *LAB)
    assert offline.returncode == 2, offline.stderr
    url = "https://github.com/ultralytics/assets/releases/download/"
    assert f"cannot download {url}" in offline.stderr and "/yolo11n.pt" in offline.stderr
    assert "`datayard models add yolo11n.pt --name yolo11n`" in offline.stderr
    assert "Traceback" not in offline.stderr
    assert "github.com" in attempts.read_text()  # it tried, and was refused
    unknown = run_cli("models", "fetch", "yolo99z", *LAB)
    assert unknown.returncode == 2
    assert "'yolo99z' is not a model Ultralytics publishes" in unknown.stderr
    assert list(bucket.objects("")) == []
