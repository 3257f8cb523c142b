"""The Train dialog: starting values, explanations, checks, clones and the launch.

No training is started here: the dialog's ``spec()`` is what would be
launched, and the one launch test records the run without a worker process.
On a computer that cannot train yet (the dialog is given the packaged app's
facts), the install of training support it offers is the real one, built on
this suite's Python.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QFileDialog, QLabel
from pytestqt.qtbot import QtBot

from datayard.core.datasets.manifest import Manifest, ManifestFile, Role
from datayard.core.events import run_to_end
from datayard.core.models.store import add_model
from datayard.core.models.version import Lineage, ModelRef, ModelVersion, WeightsFacts
from datayard.core.paths import AppDirs
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.core.training.backends import Backends
from datayard.core.training.devices import Accelerator
from datayard.core.training.local import LocalBackend
from datayard.core.training.protocol import Failed, Finished, TrainingEvent, encode
from datayard.core.training.runs import RunFolder, RunRegistry
from datayard.core.training.spec import TrainSpec, ultralytics_arguments
from datayard.core.training.support import TrainingSupport
from datayard.gui.training.train_dialog import EXPLANATIONS, LABELS, TrainDialog
from tests.fixtures.datasets import fresh_bucket, publish, sample_files
from tests.fixtures.services import S3Server
from tests.fixtures.waits import LONG_MS
from tests.gui.test_datasets_view import loaded_view, workspace_for

CPU = Accelerator("cpu")
H100 = Accelerator("cuda", ("NVIDIA H100 80GB HBM3",))
VERSION = "20260105T090000Z-1a2b3c4d"


def manifest(train: int = 120, val: int = 30, name: str = "cats") -> Manifest:
    """A version with ``train`` and ``val`` images (and their labels), two classes."""
    files = []
    for split, count in (("train", train), ("val", val)):
        for index in range(count):
            for role, suffix in ((Role.IMAGE, "jpg"), (Role.LABEL, "txt")):
                folder = "images" if role is Role.IMAGE else "labels"
                files.append(
                    ManifestFile(
                        path=f"{folder}/{split}/{index}.{suffix}",
                        size=100,
                        sha256=f"{index:064x}",
                        content_type="image/jpeg" if role is Role.IMAGE else "text/plain",
                        split=split,
                        role=role,
                        source=f"/share/{name}/{split}/{index}.{suffix}",
                        class_ids=(index % 2,) if role is Role.LABEL else None,
                    )
                )
    return Manifest(
        id=VERSION,
        owner="me",
        name=name,
        created="2026-01-05T09:00:00+00:00",
        pushed_by="me@lab-pc",
        source_host="lab-pc",
        source_paths=(f"/share/{name}",),
        class_names=("cat", "dog"),
        files=tuple(files),
    )


@pytest.fixture
def backend(tmp_path: Path) -> Backends:
    return Backends.of(Workspace.default(), RunRegistry(tmp_path / "runs"))


def open_dialog(
    qtbot: QtBot,
    backend: Backends,
    version: Manifest | None = None,
    accelerator: Accelerator = CPU,
    **options: object,
) -> TrainDialog:
    """The dialog, shown, once it has listed the earlier runs in the background."""
    dialog = TrainDialog(version or manifest(), backend, accelerator=accelerator, **options)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.runs_listed, timeout=10_000):
        dialog.show()
    return dialog


def ended_run(registry: RunRegistry, event: TrainingEvent) -> RunFolder:
    folder = registry.create(TrainSpec("me/cats@v1"), "me/cats@v1", "local")
    folder.events_file.write_text(encode(event, 0) + "\n", encoding="utf-8")
    return folder


def texts(dialog: QDialog) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel) if label.isVisible())


def test_defaults_follow_the_dataset_size_and_the_device(qtbot: QtBot, backend: Backends) -> None:
    on_cpu = open_dialog(qtbot, backend, manifest(train=120), CPU).spec()
    assert (on_cpu.epochs, on_cpu.batch, on_cpu.imgsz, on_cpu.device) == (100, 8, 320, "auto")

    gpu_dialog = open_dialog(qtbot, backend, manifest(train=120), H100)
    on_gpu = gpu_dialog.spec()
    assert (on_gpu.epochs, on_gpu.batch, on_gpu.imgsz) == (100, 16, 640)
    assert "NVIDIA H100 80GB HBM3" in texts(gpu_dialog)

    big = open_dialog(qtbot, backend, manifest(train=6000, val=10), H100).spec()
    assert big.epochs == 30

    apple = open_dialog(qtbot, backend, accelerator=Accelerator("mps")).spec()
    assert apple.device == "mps"


def test_every_field_explains_itself_in_a_visible_wrapped_label(
    qtbot: QtBot, backend: Backends
) -> None:
    dialog = open_dialog(qtbot, backend)
    assert set(EXPLANATIONS) == set(LABELS) == set(dialog.fields)
    explanations = {
        label.text(): label for label in dialog.findChildren(QLabel) if label.wordWrap()
    }
    for name, text in EXPLANATIONS.items():
        label = next(label for shown, label in explanations.items() if shown.startswith(text))
        assert label.isVisible(), name
    assert "one pass over all training images" in EXPLANATIONS["epochs"]
    assert "0.001 for Adam/AdamW" in EXPLANATIONS["lr0"]
    assert "halve it" in EXPLANATIONS["batch"]
    assert "Fine-tune a model from the team's store" in EXPLANATIONS["model"]


def test_an_invalid_value_disables_start_and_names_the_reason(
    qtbot: QtBot, backend: Backends
) -> None:
    dialog = open_dialog(qtbot, backend)
    assert dialog.start.isEnabled()

    dialog.imgsz.setValue(500)
    dialog.device.setCurrentText("gpu7")

    assert not dialog.start.isEnabled()
    assert "multiple of 32" in dialog.errors["imgsz"].text()
    assert "a GPU index such as 0" in dialog.errors["device"].text()
    assert "Image size" in dialog.problems_notice.text()
    assert "Device" in dialog.problems_notice.text()

    dialog.imgsz.setValue(512)
    dialog.device.setCurrentText("0")
    assert dialog.start.isEnabled()
    assert dialog.errors["imgsz"].text() == ""
    assert not dialog.problems_notice.isVisible()


def test_text_that_is_not_a_number_is_reported_not_raised(qtbot: QtBot, backend: Backends) -> None:
    dialog = open_dialog(qtbot, backend)
    dialog.epochs.lineEdit().selectAll()
    qtbot.keyClicks(dialog.epochs, "abc")
    assert dialog.epochs.value() == 100  # the spin box refuses letters

    dialog.lr0.setText("abc")
    dialog.lrf.setText("0,01")
    dialog.epochs.lineEdit().clear()

    assert math.isnan(dialog.spec().lr0)
    assert "type a number" in dialog.errors["lr0"].text()
    assert "decimal point" in dialog.errors["lrf"].text()
    assert "whole number" in dialog.errors["epochs"].text()
    assert not dialog.start.isEnabled()

    dialog.accept()  # as Enter would, were Start not disabled
    assert dialog.isVisible() and dialog.run_folder is None
    assert "fix the marked fields" in dialog.message.text()
    assert backend.registry.all() == []


def test_a_refused_launch_is_shown_and_the_values_are_kept(qtbot: QtBot, backend: Backends) -> None:
    dialog = open_dialog(qtbot, backend)
    dialog.imgsz.setValue(500)
    dialog.epochs.setValue(7)

    dialog.accept()

    qtbot.waitUntil(lambda: "The training was not started" in dialog.message.text())
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert "imgsz: a multiple of 32" in dialog.message.text()
    assert (dialog.spec().imgsz, dialog.spec().epochs) == (500, 7)
    assert backend.registry.all() == []


@pytest.mark.skipif(not ultralytics_arguments(), reason="needs Ultralytics' argument list")
def test_advanced_values_land_in_extra_with_their_types(qtbot: QtBot, backend: Backends) -> None:
    dialog = open_dialog(qtbot, backend)
    table = dialog.advanced
    assert not dialog.advanced_section.isExpanded()
    offered = set(table.arguments)
    assert {"cos_lr", "warmup_epochs", "cache"} <= offered
    assert not offered & {"epochs", "lr0", "model", "data", "project", "name", "profile"}

    def type_in(name: str, text: str) -> None:
        table.cells[name].setText(text)

    type_in("cos_lr", "true")
    type_in("warmup_epochs", "2.5")
    type_in("close_mosaic", "0")
    type_in("cache", "disk")
    type_in("freeze", "[0, 1]")
    type_in("iou", "0.7")  # Ultralytics' default: nothing changed

    assert dialog.spec().extra == {
        "cos_lr": True,
        "warmup_epochs": 2.5,
        "close_mosaic": 0,
        "cache": "disk",
        "freeze": [0, 1],
    }
    assert "cos_lr=true" in dialog.summary.text()
    assert dialog.start.isEnabled()

    type_in("close_mosaic", "soon")
    assert not dialog.start.isEnabled()
    assert "close_mosaic: expects int" in table.problems.text()
    assert "advanced argument close_mosaic" in dialog.problems_notice.text()

    type_in("close_mosaic", "")
    assert "close_mosaic" not in dialog.spec().extra
    assert dialog.start.isEnabled()


def test_the_summary_says_what_will_happen_and_follows_the_values(
    qtbot: QtBot, backend: Backends
) -> None:
    dialog = open_dialog(qtbot, backend)
    summary = dialog.summary.text()
    assert summary.startswith(
        f"Trains yolo11n from scratch on me/cats@{VERSION} "
        "(120 train / 30 val images, 2 classes) for 100 epochs on the CPU; "
        "each epoch is 15 batches of 8 images at 320 px"
    )
    assert "stops early after 50 epochs without improvement" in summary
    assert summary.endswith("Runs in the background; you can close the app.")

    dialog.epochs.setValue(60)
    dialog.batch.setValue(32)
    dialog.device.setCurrentText("0,1")
    dialog.optimizer.setCurrentText("SGD")
    dialog.patience.setValue(0)
    summary = dialog.summary.text()
    assert "for 60 epochs on GPUs 0,1" in summary
    assert "each epoch is 4 batches of 32 images" in summary
    assert "SGD with a learning rate from 0.01 down to 0.0001" in summary
    assert "never stops early" in summary


def test_base_models_offer_shipped_files_and_earlier_runs(
    qtbot: QtBot, backend: Backends, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished = ended_run(
        backend.registry, Finished(epochs_done=3, best_epoch=2, weights=("best.pt",))
    )
    failed = ended_run(backend.registry, Failed(reason="dataset", message="no labels"))
    dialog = open_dialog(qtbot, backend)
    offered = [dialog.model.itemData(i) for i in range(dialog.model.count())]
    assert offered[:3] == ["yolo11n.yaml", "yolo11s.yaml", "yolo11m.yaml"]
    assert f"run:{finished.run_id}" in offered
    assert f"run:{failed.run_id}" not in offered
    assert "1 earlier run(s)" in dialog.runs_note.text()

    dialog.model.setCurrentIndex(dialog.model.findData(f"run:{finished.run_id}"))
    assert dialog.spec().model == f"run:{finished.run_id}"
    assert f"Fine-tunes the best weights of run {finished.run_id}" in dialog.summary.text()

    weights = tmp_path / "mine.pt"
    weights.write_bytes(b"weights")
    choose = dialog.model.count() - 1
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_: (str(weights), ""))
    dialog.model.setCurrentIndex(choose)
    dialog.model.activated.emit(choose)
    assert dialog.spec().model == str(weights)
    assert "Fine-tunes mine.pt" in dialog.summary.text()

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_: ("", ""))
    choose = dialog.model.count() - 1
    dialog.model.setCurrentIndex(choose)
    dialog.model.activated.emit(choose)
    assert dialog.spec().model == str(weights)  # cancelled: the choice before stays


def test_cloning_prefills_every_value(qtbot: QtBot, backend: Backends, tmp_path: Path) -> None:
    weights = tmp_path / "base.pt"
    weights.write_bytes(b"weights")
    extra = {"cos_lr": True} if ultralytics_arguments() else {}
    earlier = TrainSpec(
        dataset="me/cats@20250101T000000Z-00000000",
        model=str(weights),
        task="segment",
        epochs=12,
        batch=4,
        imgsz=416,
        lr0=0.002,
        lrf=0.1,
        patience=5,
        optimizer="AdamW",
        device="cpu",
        workers=0,
        seed=7,
        plots=False,
        profile="lab",
        store_wait=3600,
        extra=extra,
    )

    dialog = open_dialog(qtbot, backend, initial=earlier)

    assert dialog.spec() == earlier.with_changes(dataset=f"me/cats@{VERSION}")
    assert dialog.advanced_section.isExpanded() == bool(extra)
    assert dialog.start.isEnabled()


def test_starting_launches_the_spec_on_the_exact_version(qtbot: QtBot, tmp_path: Path) -> None:
    class RecordOnly(LocalBackend):
        """Records the launch as the real backend does, without starting a worker process."""

        def _start(self, folder: RunFolder, *, resume: bool) -> None:
            pass

    backend = Backends.of(Workspace.default(), RunRegistry(tmp_path / "runs"))
    backend.local = RecordOnly(backend.registry)
    dialog = open_dialog(qtbot, backend, cloned_from="20260101-000000-abcdef", profile="lab")
    dialog.epochs.setValue(3)

    with qtbot.waitSignal(dialog.launched, timeout=LONG_MS) as launched:
        dialog.start.click()

    folder = launched.args[0]
    assert dialog.run_folder is folder and dialog.result() == QDialog.DialogCode.Accepted
    record = folder.record()
    assert record.dataset == f"me/cats@{VERSION}"
    assert record.spec == dialog.spec()
    assert (record.spec.epochs, record.spec.profile) == (3, "lab")
    assert record.cloned_from == "20260101-000000-abcdef"


@pytest.mark.usefixtures("secret_service")
def test_the_datasets_view_asks_to_train_one_selected_version(
    qtbot: QtBot, s3_server: S3Server
) -> None:
    bucket = fresh_bucket(s3_server)
    earlier = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # versions sort by id, which starts with it
    publish(bucket, "alice/cats", sample_files(extra_train=1), when=earlier)
    second = publish(bucket, "alice/cats", sample_files(extra_train=2))
    workspace = workspace_for(s3_server.profile("lab", bucket=bucket.name), s3_server.secret)
    view = loaded_view(qtbot, workspace)
    assert not view.train_button.isEnabled()

    cats = view.tree.topLevelItem(0)
    cats.setExpanded(True)
    cats.child(0).setSelected(True)
    cats.child(1).setSelected(True)
    assert not view.train_button.isEnabled()  # two versions: compare, not train

    view.tree.setCurrentItem(cats.child(1))
    assert view.train_button.isEnabled()
    with qtbot.waitSignal(view.train_requested) as requested:
        view.train_button.click()
    assert requested.args[0].ref == second.ref


@pytest.mark.skipif(not ultralytics_arguments(), reason="needs Ultralytics' argument list")
def test_a_cloned_argument_this_ultralytics_lacks_is_shown_to_be_cleared(
    qtbot: QtBot, backend: Backends
) -> None:
    earlier = TrainSpec("me/cats@v1", extra={"warp_speed": 9})
    dialog = open_dialog(qtbot, backend, initial=earlier)

    assert dialog.spec().extra == {"warp_speed": 9}
    assert "warp_speed: not an Ultralytics training argument" in dialog.advanced.problems.text()
    assert not dialog.start.isEnabled()

    dialog.advanced.cells["warp_speed"].setText("")
    assert dialog.spec().extra == {}
    assert dialog.start.isEnabled()


def environment() -> Path:
    """This computer's worker environment, in the test's own data folder."""
    return AppDirs.default().data / "worker" / version("datayard")


def cannot_train() -> TrainingSupport:
    """The packaged app's facts before its training support is installed."""
    return TrainingSupport("", str(environment() / "bin" / "python"), "not set up")


def test_a_computer_that_can_train_is_not_offered_anything(qtbot: QtBot, backend: Backends) -> None:
    dialog = open_dialog(qtbot, backend)
    panel = dialog.training_support
    qtbot.waitUntil(lambda: panel.can_train is not None, timeout=LONG_MS)

    assert panel.can_train and not panel.isVisible()
    assert dialog.start.isEnabled()


def test_the_dialog_offers_to_install_training_support_and_then_starts_runs(
    qtbot: QtBot, backend: Backends
) -> None:
    dialog = open_dialog(qtbot, backend, support=cannot_train())
    panel = dialog.training_support

    assert panel.isVisible() and "This computer cannot train yet" in panel.notice.text()
    assert "not set up" in panel.notice.text()
    assert not dialog.start.isEnabled()

    panel.python.setText("python3")
    panel.install_button.click()
    assert "absolute path" in panel.bar.message.text()
    assert not panel.installing

    panel.python.setText(sys.executable)
    panel.install_button.click()
    assert panel.installing and panel.bar.isVisible() and not panel.install_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.installing, timeout=5 * LONG_MS)
    qtbot.waitUntil(lambda: bool(panel.can_train), timeout=LONG_MS)

    assert "Training support is installed" in panel.notice.text()
    assert "ready" in panel.output.toPlainText()
    assert panel.support is not None and panel.support.environment_problem == ""
    assert (environment() / "bin" / "python").is_file()
    assert dialog.start.isEnabled()


def test_closing_the_dialog_stops_the_install_and_changes_nothing(
    qtbot: QtBot, backend: Backends
) -> None:
    dialog = open_dialog(qtbot, backend, support=cannot_train())
    panel = dialog.training_support
    panel.python.setText(sys.executable)
    install = panel.install()
    assert install is not None

    with qtbot.waitSignal(install.cancelled, timeout=5 * LONG_MS):
        dialog.reject()

    assert "nothing was changed" in panel.notice.text()
    assert not environment().exists()


def stored_model(
    bucket: Bucket, tmp_path: Path, name: str, facts: WeightsFacts, score: float | None = None
) -> ModelVersion:
    """A model version in the real store; the dialog lists versions, it never loads them."""
    weights = tmp_path / f"{name.replace('/', '-')}.pt"
    weights.write_bytes(name.encode() * 64)
    lineage = Lineage(run="20260101-000000-abcdef", metrics={"mAP50-95": score}) if score else None
    adding = add_model(
        bucket, weights, facts, ModelRef.parse(name, "me"), source=str(weights), lineage=lineage
    )
    return run_to_end(adding, ModelVersion)


def coco(architecture: str, parameters: int) -> WeightsFacts:
    return WeightsFacts("detect", tuple(f"c{i}" for i in range(80)), architecture, parameters, 640)


def test_the_stores_models_come_first_and_fine_tuning_them_is_the_default(
    qtbot: QtBot, backend: Backends, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    small = stored_model(bucket, tmp_path, "me/coco-n", coco("yolo11n", 2_600_000))
    stored_model(bucket, tmp_path, "me/coco-s", coco("yolo11s", 9_400_000))
    stored_model(bucket, tmp_path, "me/masks", WeightsFacts("segment", ("x",), "", 2_900_000, 0))

    dialog = TrainDialog(manifest(train=42), backend, accelerator=CPU, bucket=bucket)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.models_listed, timeout=LONG_MS):
        dialog.show()
    offered = [dialog.model.itemText(i) for i in range(3)]
    assert offered[0] == "me/coco-n v1: detect, 80 classes, yolo11n, 2.6 M parameters"
    assert offered[1].startswith("me/masks v1: segment") and offered[2].startswith("me/coco-s")
    assert "3 model(s) in the store" in dialog.models_note.text()

    spec = dialog.spec()
    assert spec.model == f"model:{small.ref}"  # the smallest of the task, by id
    assert spec.epochs == 50 and spec.extra == {"warmup_epochs": 1, "freeze": 10}
    assert (
        "42 training images on the CPU (no GPU found): fine-tune me/coco-n v1, 50 epochs, "
        "1 warm-up epoch, its first 10 layers (the backbone) frozen" in texts(dialog)
    )
    summary = dialog.summary.text()
    assert summary.startswith(f"Fine-tunes me/coco-n v1 on me/cats@{VERSION}")
    assert "its 80 classes are not this set's 2" in summary and "new last layer" in summary

    dialog.model.setCurrentIndex(dialog.model.findData("yolo11n.yaml"))
    dialog.use_suggestion()
    assert dialog.spec().epochs == 100 and dialog.spec().extra == {}
    assert "from scratch, 100 epochs" in texts(dialog)


def test_a_model_that_knows_the_sets_classes_is_preferred_and_a_clone_keeps_its_own(
    qtbot: QtBot, backend: Backends, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    stored_model(bucket, tmp_path, "me/coco-n", coco("yolo11n", 2_600_000))
    cats = WeightsFacts("detect", ("cat", "dog"), "yolo11s", 9_400_000, 320)
    promoted = stored_model(bucket, tmp_path, "ada/cats", cats, score=0.4123)

    dialog = TrainDialog(manifest(train=600), backend, accelerator=CPU, bucket=bucket)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.models_listed, timeout=LONG_MS):
        dialog.show()
    assert dialog.spec().model == f"model:{promoted.ref}"
    assert dialog.spec().extra == {"warmup_epochs": 1}  # 600 images: the backbone trains too
    assert "mAP50-95 0.412" in dialog.model.currentText()
    assert "new last layer" not in dialog.summary.text()

    clone = TrainSpec(dataset=f"me/cats@{VERSION}", model="yolo11s.yaml", epochs=7)
    cloned = TrainDialog(manifest(), backend, accelerator=CPU, bucket=bucket, initial=clone)
    qtbot.addWidget(cloned)
    with qtbot.waitSignal(cloned.models_listed, timeout=LONG_MS):
        cloned.show()
    assert (cloned.spec().model, cloned.spec().epochs) == ("yolo11s.yaml", 7)
