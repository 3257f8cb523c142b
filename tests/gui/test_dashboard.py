"""The runs dashboard: what a user sees of finished and live runs, and what its buttons do."""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QInputDialog, QTreeWidgetItem
from pytestqt.qtbot import QtBot

from datayard.core.models.version import ModelCatalog, ModelRef
from datayard.core.store.workspace import Workspace
from datayard.core.training.backends import Backends
from datayard.core.training.curves import BATCH, LR, METRICS, VAL, XAxis, smooth
from datayard.core.training.predict import iou
from datayard.core.training.protocol import Batch, Failed, Final, Finished, Paused
from datayard.core.training.runs import RunFolder, RunRegistry
from datayard.core.training.spec import TrainSpec
from datayard.core.training.stored_runs import has_record, put_record, stored_record
from datayard.gui.training.dashboard import RunDashboard
from datayard.gui.training.runs_list import COLUMNS
from datayard.gui.training.try_it import NO_SELECTION
from tests.core.test_curves import append_events, losses_at, training_events, write_run
from tests.fixtures.base_weights import trained_images
from tests.fixtures.datasets import run_cli
from tests.fixtures.training import PROFILE, SHAPES, TrainingStore
from tests.fixtures.waits import LONG_MS

BOX = BATCH + "box_loss"


@pytest.fixture
def registry(tmp_path: Path) -> RunRegistry:
    return RunRegistry(tmp_path / "runs")


@pytest.fixture
def fake_worker() -> Iterator[Callable[[RunFolder], subprocess.Popen[bytes]]]:
    """A harmless process that the local backend takes for the run's worker (by its command
    line)."""
    children: list[subprocess.Popen[bytes]] = []

    def start(folder: RunFolder) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)", "worker", str(folder.path)]
        )
        folder.pid_file.write_text(str(child.pid), encoding="utf-8")
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()
        child.wait(timeout=10)


def dashboard_for(qtbot: QtBot, registry: RunRegistry) -> RunDashboard:
    dashboard = RunDashboard(Backends.of(Workspace.default(), registry))
    qtbot.addWidget(dashboard)
    dashboard.resize(1366, 768)
    dashboard.show()
    with qtbot.waitSignal(dashboard.runs_loaded, timeout=10_000):
        dashboard.refresh()
    return dashboard


def row_item(dashboard: RunDashboard, run_id: str) -> QTreeWidgetItem:
    tree = dashboard.runs
    for index in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(index)
        if tree.run_id_of(item) == run_id:
            return item
    raise AssertionError(f"no row for {run_id}")


def row(dashboard: RunDashboard, run_id: str) -> dict[str, str]:
    item = row_item(dashboard, run_id)
    return {column: item.text(i) for i, column in enumerate(COLUMNS)}


def curve(dashboard: RunDashboard, plot: str, run_id: str, series: str, role: str) -> object:
    return dashboard.plots.curves[plot][(run_id, series, role)]


def points(dashboard: RunDashboard, plot: str, run_id: str, series: str, role: str = "line") -> int:
    item = dashboard.plots.curves[plot].get((run_id, series, role))
    return 0 if item is None or item.yData is None else len(item.yData)


def show(qtbot: QtBot, dashboard: RunDashboard, *runs: RunFolder, batches: int) -> None:
    dashboard.select_runs([run.run_id for run in runs])
    qtbot.waitUntil(
        lambda: all(
            points(dashboard, "batch:box_loss", r.run_id, BOX, "smooth") == batches for r in runs
        ),
        timeout=10_000,
    )


def test_lists_runs_with_status_best_map_and_duration(qtbot: QtBot, registry: RunRegistry) -> None:
    finished = write_run(registry, epochs=3, batches=10)
    paused = write_run(registry, epochs=5, batches=10, end=False)
    append_events(paused, [Paused(epochs_done=3, resumable=True)])
    unstored = write_run(registry, epochs=1, batches=10, end=False)
    weights = "artifacts/train/weights/best.pt"
    append_events(
        unstored, [Finished(epochs_done=1, best_epoch=1, weights=(), unstored=(weights,))]
    )
    dashboard = dashboard_for(qtbot, registry)

    assert dashboard.runs.topLevelItemCount() == 3
    done = row(dashboard, finished.run_id)
    assert (done["Status"], done["Dataset"], done["Model"]) == (
        "finished",
        "me/set@v",
        "yolo11n.yaml",
    )
    assert done["Best mAP50-95"] == "0.080"  # 0.05 + 0.01 x 3 epochs
    assert done["Run"] == finished.record().name == "set-yolo11n-1"
    (listed,) = dashboard.runs.findItems("set-yolo11n-1", Qt.MatchFlag.MatchExactly, 0)
    assert listed.toolTip(0).startswith(finished.run_id)
    assert "dataset: me/set@v" in listed.toolTip(0) and "model: yolo11n.yaml" in listed.toolTip(0)
    assert done["Duration"] == "28 s"  # 2 s preparing + 3 x (10 x 0.5 s + 3 s) + 2 s
    assert row(dashboard, paused.run_id)["Status"] == "paused"
    assert row(dashboard, unstored.run_id)["Status"] == "finished, 1 file not stored"
    (incomplete,) = dashboard.runs.findItems(unstored.record().name, Qt.MatchFlag.MatchExactly, 0)
    assert (
        f"not in the store, only in the run's folder on the machine that trained it: {weights}"
        in (incomplete.toolTip(1))
    )


def test_a_selected_run_shows_its_points_and_stats(qtbot: QtBot, registry: RunRegistry) -> None:
    run = write_run(registry, epochs=3, batches=10)
    dashboard = dashboard_for(qtbot, registry)
    show(qtbot, dashboard, run, batches=30)

    box = curve(dashboard, "batch:box_loss", run.run_id, BOX, "smooth")
    raw = curve(dashboard, "batch:box_loss", run.run_id, BOX, "raw")
    assert raw.yData[-1] == pytest.approx(losses_at(30)["box_loss"])  # the last batch event
    assert box.opts["autoDownsample"] and box.opts["clipToView"]
    assert points(dashboard, "epoch:dfl_loss", run.run_id, VAL + "dfl_loss") == 3
    assert points(dashboard, "map", run.run_id, METRICS + "mAP50-95") == 3
    assert points(dashboard, "lr", run.run_id, LR) == 30

    table = dashboard.stats
    cells = {
        table.item(r, 1).text(): [table.item(r, c).text() for c in (2, 3, 4)]
        for r in range(table.rowCount())
    }
    assert cells[METRICS + "mAP50-95"] == ["0.06", "0.08", "0.08"]
    values = [losses_at(step)["box_loss"] for step in range(1, 31)]
    assert cells[BOX] == [f"{min(values):.4g}", f"{max(values):.4g}", f"{values[-1]:.4g}"]
    assert "epoch 3/3" in dashboard.progress.format()


def test_two_selected_runs_overlay_one_colour_each(qtbot: QtBot, registry: RunRegistry) -> None:
    first = write_run(registry, epochs=3, batches=10)
    second = write_run(registry, epochs=3, batches=10, seed=1)
    dashboard = dashboard_for(qtbot, registry)
    show(qtbot, dashboard, first, second, batches=30)

    for key, curves in dashboard.plots.curves.items():
        assert {run_id for run_id, _, _ in curves} == {first.run_id, second.run_id}, key
    smoothed = [
        c
        for (_, series, role), c in dashboard.plots.curves["batch:box_loss"].items()
        if role == "smooth"
    ]
    assert len(smoothed) == 2
    assert smoothed[0].opts["pen"].color() != smoothed[1].opts["pen"].color()
    legend = dashboard.plots.legend
    assert legend is not None and legend.isVisible()
    records = [first.record(), second.record()]
    assert sorted(label.text for _, label in legend.items) == sorted(r.label for r in records)

    dashboard.select_runs([second.run_id])
    qtbot.waitUntil(
        lambda: not any(r == first.run_id for r, _, _ in dashboard.plots.curves["pr"]),
        timeout=LONG_MS,
    )
    assert not legend.isVisible()  # one run: the headline names it, the legend would hide curves
    table = dashboard.stats
    assert {table.item(r, 0).toolTip() for r in range(table.rowCount())} == {second.run_id}


def test_smoothing_and_x_axis_change_the_curves(qtbot: QtBot, registry: RunRegistry) -> None:
    run = write_run(registry, epochs=3, batches=10)
    dashboard = dashboard_for(qtbot, registry)
    show(qtbot, dashboard, run, batches=30)
    smoothed = curve(dashboard, "batch:box_loss", run.run_id, BOX, "smooth")
    raw = curve(dashboard, "batch:box_loss", run.run_id, BOX, "raw")

    with qtbot.waitSignal(dashboard.redrawn, timeout=LONG_MS):
        dashboard.set_smoothing(0)
    assert np.array_equal(smoothed.yData, raw.yData) and not raw.isVisible()
    with qtbot.waitSignal(dashboard.redrawn, timeout=LONG_MS):
        dashboard.set_smoothing(0.9)
    assert raw.isVisible()
    assert np.allclose(smoothed.yData, smooth(raw.yData, 0.9))
    assert not np.allclose(smoothed.yData, raw.yData)

    assert smoothed.xData[-1] == 30
    with qtbot.waitSignal(dashboard.redrawn, timeout=LONG_MS):
        dashboard.set_axis(XAxis.EPOCH)
    assert smoothed.xData[-1] == pytest.approx(3.0) and smoothed.xData[0] == pytest.approx(0.1)
    assert dashboard.plots.plots["lr"].getAxis("bottom").labelText == "epoch"
    with qtbot.waitSignal(dashboard.redrawn, timeout=LONG_MS):
        dashboard.set_axis(XAxis.WALL)
    assert smoothed.xData[-1] == pytest.approx(2 + 3 * 8 - 3)  # preparing + epochs - last val


def test_exports_csv_and_png(qtbot: QtBot, registry: RunRegistry, tmp_path: Path) -> None:
    first = write_run(registry, epochs=2, batches=5)
    second = write_run(registry, epochs=1, batches=5, seed=1)
    dashboard = dashboard_for(qtbot, registry)
    show(qtbot, dashboard, first, batches=10)
    dashboard.select_runs([first.run_id, second.run_id])
    qtbot.waitUntil(lambda: points(dashboard, "lr", second.run_id, LR) == 5, timeout=LONG_MS)

    target = tmp_path / "out.csv"
    with qtbot.waitSignal(dashboard.exported, timeout=10_000):
        dashboard.export_csv(target)
    with target.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    box = [r for r in rows if r["run"] == second.run_id and r["series"] == BOX]
    assert len(box) == 5
    assert float(box[-1]["value"]) == pytest.approx(losses_at(5, seed=1)["box_loss"])
    assert {r["run"] for r in rows} == {first.run_id, second.run_id}
    assert "out.csv" in dashboard.notice.text()

    picture = tmp_path / "plots.png"
    dashboard.export_png(picture)
    image = QImage(str(picture))
    assert picture.stat().st_size > 10_000 and image.width() > 600 and image.height() > 400


def test_buttons_follow_the_selected_runs_status(
    qtbot: QtBot, registry: RunRegistry, fake_worker: Callable[[RunFolder], object]
) -> None:
    finished = write_run(registry, epochs=1, batches=3)
    paused = write_run(registry, epochs=3, batches=3, end=False)
    append_events(paused, [Paused(epochs_done=1, resumable=True)])
    running = write_run(registry, epochs=3, batches=3, end=False)
    fake_worker(running)
    dashboard = dashboard_for(qtbot, registry)
    buttons = (dashboard.stop_button, dashboard.pause_button, dashboard.resume_button)

    def enabled() -> tuple[bool, ...]:
        return tuple(button.isEnabled() for button in buttons)

    assert enabled() == (False, False, False)  # nothing selected
    dashboard.select_runs([finished.run_id])
    assert enabled() == (False, False, False)
    dashboard.select_runs([paused.run_id])
    assert enabled() == (False, False, True)
    dashboard.select_runs([running.run_id])
    assert enabled() == (True, True, False)
    assert dashboard.csv_button.isEnabled()

    with qtbot.waitSignal(dashboard.runs_loaded, timeout=10_000):
        dashboard.pause_button.click()
    assert running.requested() is not None and running.requested().value == "pause"
    assert "asked to pause" in dashboard.notice.text()


def test_resume_is_offered_for_a_failed_run_that_had_finished_an_epoch(
    qtbot: QtBot, registry: RunRegistry
) -> None:
    """Its worker died (its machine restarted): the last epoch's checkpoint is there to
    continue from. A run that failed before its first epoch ended has none."""
    crashed = write_run(registry, epochs=3, batches=3, end=False)
    append_events(crashed, [Failed(reason="crashed", message="the machine restarted")])
    early = registry.create(TrainSpec(dataset="me/set@v"), "me/set@v", "local")
    append_events(early, [Failed(reason="dataset", message="a class name is required")])
    dashboard = dashboard_for(qtbot, registry)

    dashboard.select_runs([early.run_id])
    assert not dashboard.resume_button.isEnabled()
    dashboard.select_runs([crashed.run_id])
    assert dashboard.resume_button.isEnabled()
    assert row(dashboard, crashed.run_id)["Status"] == "failed"


def test_an_action_that_fails_shows_a_readable_message(
    qtbot: QtBot, registry: RunRegistry, fake_worker: Callable[[RunFolder], subprocess.Popen[bytes]]
) -> None:
    running = write_run(registry, epochs=3, batches=3, end=False)
    worker = fake_worker(running)
    dashboard = dashboard_for(qtbot, registry)
    dashboard.select_runs([running.run_id])
    assert dashboard.stop_button.isEnabled()
    worker.kill()  # the worker dies after the list was read
    worker.wait(timeout=10)

    dashboard.stop_button.click()
    qtbot.waitUntil(lambda: "Cannot stop" in dashboard.notice.text(), timeout=10_000)
    assert "is not running" in dashboard.notice.text()
    assert "Traceback" not in dashboard.notice.text()
    # The follower notices the worker is gone and the run is recorded as failed.
    qtbot.waitUntil(lambda: row(dashboard, running.run_id)["Status"] == "failed", timeout=10_000)


def test_a_live_run_is_followed_as_its_file_grows(
    qtbot: QtBot, registry: RunRegistry, fake_worker: Callable[[RunFolder], subprocess.Popen[bytes]]
) -> None:
    events = list(training_events(epochs=3, batches=10))
    first_batches = 2 + 6  # preparing, setup, six batches
    run = write_run(registry, epochs=3, batches=10, end=False)
    run.events_file.write_text("", encoding="utf-8")
    append_events(run, events[:first_batches])
    worker = fake_worker(run)
    dashboard = dashboard_for(qtbot, registry)
    assert row(dashboard, run.run_id)["Status"] == "running"

    show(qtbot, dashboard, run, batches=6)
    assert "epoch 1/3, batch 6/10" in dashboard.progress.format()
    assert "left" in dashboard.progress.format()  # an ETA from the batch rate

    append_events(run, events[first_batches:20])
    expected = sum(isinstance(e, Batch) for e in events[:20])
    qtbot.waitUntil(
        lambda: points(dashboard, "batch:box_loss", run.run_id, BOX, "smooth") == expected,
        timeout=10_000,
    )
    raw = curve(dashboard, "batch:box_loss", run.run_id, BOX, "raw")
    last = [e for e in events[:20] if isinstance(e, Batch)][-1]
    assert raw.yData[-1] == pytest.approx(last.losses["box_loss"])

    append_events(run, events[20:])
    assert isinstance(events[-1], Finished)
    worker.kill()  # a worker exits once its last event is written and mirrored
    worker.wait(timeout=10)
    qtbot.waitUntil(lambda: row(dashboard, run.run_id)["Status"] == "finished", timeout=10_000)
    qtbot.waitUntil(
        lambda: points(dashboard, "batch:box_loss", run.run_id, BOX, "smooth") == 30,
        timeout=LONG_MS,
    )
    assert not dashboard.stop_button.isEnabled()


def test_a_run_shows_its_name_and_is_renamed_here_and_in_the_stores_copy(
    qtbot: QtBot,
    training_store: TrainingStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = training_store.backend.registry
    spec = training_store.spec()
    stored = registry.create(spec, training_store.ref, "local")
    put_record(training_store.bucket, stored.record())  # as its worker stores it
    unstored = registry.create(spec, training_store.ref, "local")
    dashboard = dashboard_for(qtbot, registry)
    assert row(dashboard, stored.run_id)["Run"] == "shapes-yolo11n-1"
    assert row(dashboard, unstored.run_id)["Run"] == "shapes-yolo11n-2"
    assert not dashboard.rename_button.isEnabled()

    dashboard.select_runs([stored.run_id])
    monkeypatch.setattr(QInputDialog, "getText", lambda *_, **__: ("night-images", True))
    with qtbot.waitSignal(dashboard.runs_loaded, timeout=LONG_MS):
        dashboard.rename_button.click()
    assert row(dashboard, stored.run_id)["Run"] == "night-images"
    assert "is now named night-images" in dashboard.notice.text()
    assert stored_record(training_store.bucket, stored.run_id).name == "night-images"

    dashboard.select_runs([unstored.run_id])
    monkeypatch.setattr(QInputDialog, "getText", lambda *_, **__: ("night-images", True))
    dashboard.rename_button.click()
    qtbot.waitUntil(lambda: "Not renamed" in dashboard.notice.text(), timeout=LONG_MS)
    assert "another run here is named 'night-images'" in dashboard.notice.text()
    monkeypatch.setattr(QInputDialog, "getText", lambda *_, **__: ("day", True))
    with qtbot.waitSignal(dashboard.runs_loaded, timeout=LONG_MS):
        dashboard.rename_button.click()
    assert row(dashboard, unstored.run_id)["Run"] == "day"
    assert not has_record(training_store.bucket, unstored.run_id)  # nothing made up there


def test_a_finished_run_is_promoted_to_a_model_with_its_lineage(
    qtbot: QtBot,
    training_store: TrainingStore,
    base_weights: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = training_store.backend.registry
    spec = training_store.spec(epochs=2)
    finished = registry.create(spec, training_store.ref, "local")
    append_events(finished, training_events(2, 3))
    finished.weights_dir.mkdir(parents=True)
    shutil.copy(base_weights, finished.weights_dir / "best.pt")  # as its worker leaves it
    paused = registry.create(spec, training_store.ref, "local")
    append_events(
        paused, [*training_events(2, 3, end=False), Paused(epochs_done=1, resumable=True)]
    )
    dashboard = dashboard_for(qtbot, registry)
    dashboard.select_runs([paused.run_id])
    assert not dashboard.promote_button.isEnabled()

    dashboard.select_runs([finished.run_id])
    assert dashboard.promote_button.isEnabled()
    monkeypatch.setattr(QInputDialog, "getText", lambda *_, **__: ("me/shapes-best", True))
    dashboard.promote_button.click()
    qtbot.waitUntil(lambda: "newest version" in dashboard.notice.text(), timeout=LONG_MS)
    assert "of the model me/shapes-best" in dashboard.notice.text()
    version = ModelCatalog(training_store.bucket).version(ModelRef("me", "shapes-best"))
    assert version.lineage.run == finished.run_id
    assert version.lineage.dataset == training_store.ref
    assert version.sha256 == hashlib.sha256(base_weights.read_bytes()).hexdigest()

    monkeypatch.setattr(QInputDialog, "getText", lambda *_, **__: ("bad name", True))
    dashboard.promote_button.click()
    qtbot.waitUntil(lambda: "Not promoted" in dashboard.notice.text(), timeout=LONG_MS)
    assert "model name 'bad name' is not valid" in dashboard.notice.text()


def test_the_results_tab_shows_the_final_validation_per_class_and_the_plots_zoomable(
    qtbot: QtBot, registry: RunRegistry
) -> None:
    run = write_run(registry, epochs=2, batches=3)
    classes = {
        "cat": {"Images": 4.0, "Instances": 6.0, "Box-P": 0.81, "mAP50": 0.7, "mAP50-95": 0.42},
        "dog": {"Images": 3.0, "Instances": 3.0, "Box-P": 0.5, "mAP50": 0.4, "mAP50-95": 0.21},
    }
    append_events(run, [Final(best_epoch=2, metrics={"mAP50-95": 0.315}, classes=classes)])
    run.train_dir.mkdir(parents=True)
    for name, size in (("val_batch0_pred.jpg", (640, 480)), ("confusion_matrix.png", (300, 200))):
        Image.new("RGB", size, (200, 30, 30)).save(run.train_dir / name)
    bare = write_run(registry, epochs=1, batches=3)
    dashboard = dashboard_for(qtbot, registry)

    dashboard.views.setCurrentWidget(dashboard.results)
    dashboard.runs.setCurrentItem(row_item(dashboard, run.run_id))
    results = dashboard.results
    qtbot.waitUntil(lambda: "mAP50-95 0.315" in results.heading.text(), timeout=LONG_MS)
    table = results.classes
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Class", "Images", "Instances", "Box-P", "mAP50", "mAP50-95"]
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["cat", "dog"]
    assert (table.item(0, 2).text(), table.item(0, 5).text()) == ("6", "0.420")
    titles = [results.images.itemText(i) for i in range(results.images.count())]
    assert titles == ["Confusion matrix (counts)", "Validation images: predictions"]
    assert results.image.pixmap is not None and results.image.pixmap.width() == 300
    results.images.setCurrentIndex(1)
    assert results.image.pixmap.width() == 640
    fitted = results.image.transform().m11()
    results.image.zoom(2)
    assert results.image.transform().m11() == pytest.approx(fitted * 2)

    dashboard.runs.setCurrentItem(row_item(dashboard, bare.run_id))
    qtbot.waitUntil(lambda: "No plots in this run's" in results.missing.text(), timeout=LONG_MS)
    assert not results.image.isVisible() and not results.classes.isVisible()


def test_two_selected_runs_show_their_hyperparameters_side_by_side_differences_first(
    qtbot: QtBot, registry: RunRegistry
) -> None:
    first = registry.create(TrainSpec("me/set@v", epochs=30, lr0=0.01), "me/set@v", "local")
    tuned = TrainSpec("me/set@v", epochs=30, lr0=0.002, extra={"freeze": 10})
    second = registry.create(tuned, "me/set@v", "local")
    dashboard = dashboard_for(qtbot, registry)
    comparison = dashboard.results.comparison

    dashboard.select_runs([first.run_id])
    assert comparison.isHidden()
    dashboard.select_runs([first.run_id, second.run_id])
    assert not comparison.isHidden()
    names = [comparison.verticalHeaderItem(r).text() for r in range(comparison.rowCount())]
    assert names[:2] == ["lr0", "extra.freeze"]  # what differs comes first
    assert "epochs" in names[2:] and "dataset" in names[2:]
    columns = [comparison.horizontalHeaderItem(c).text() for c in range(2)]
    order = {label: index for index, label in enumerate(columns)}
    lr0 = {label: comparison.item(0, order[label]).text() for label in columns}
    assert lr0 == {first.record().name: "0.01", second.record().name: "0.002"}
    assert comparison.item(0, 0).font().bold()
    epochs = names.index("epochs")
    assert not comparison.item(epochs, 0).font().bold()
    assert comparison.toolTip() == "2 setting(s) differ, marked and listed first"


def shapes_tree(root: Path) -> Path:
    """The shapes images the base model was trained on, with their labels beside them in
    Ultralytics' images/labels layout."""
    for relative, data in trained_images().items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root


def test_try_it_marks_what_the_model_finds_misses_and_invents_at_the_sliders_value(
    qtbot: QtBot, registry: RunRegistry, base_weights: Path, tmp_path: Path
) -> None:
    run = write_run(registry, epochs=1, batches=3)
    run.weights_dir.mkdir(parents=True)
    shutil.copy(base_weights, run.weights_dir / "best.pt")
    photos = shapes_tree(tmp_path / "photos")
    dashboard = dashboard_for(qtbot, registry)
    try_it = dashboard.try_it
    assert not try_it.choose.isEnabled()
    dashboard.views.setCurrentWidget(try_it)
    dashboard.runs.setCurrentItem(row_item(dashboard, run.run_id))
    assert try_it.choose.isEnabled()
    assert try_it.model.currentText() == f"Best weights of {run.record().label}"

    with qtbot.waitSignal(try_it.predict([photos]).finished, timeout=120_000):
        pass
    assert try_it.images.count() == 4 and "4 images" in try_it.notice.text()
    names = [f"images/train/s{i:03d}.jpg" for i in range(4)]
    assert [predicted.image for predicted in try_it.predicted] == names
    # The model was trained on these very images: at the default threshold it finds each
    # labelled shape, with the class and the place its label gives.
    assert try_it.tally.text() == (
        "At 0.250 or more, in the 4 labelled images: 4 of 4 objects found, 0 missed, "
        "0 false detections."
    )
    for row, predicted in enumerate(try_it.predicted):
        try_it.images.setCurrentRow(row)
        (truth,) = predicted.truth or ()
        (caption,) = try_it.boxes
        assert caption.startswith(SHAPES[truth.class_id] + " ")
        (found,) = predicted.above(0.25)
        assert iou(found.box, truth.box) >= 0.5

    # Nothing is sure enough: every shape is missed, and marked so.
    try_it.threshold.setValue(1000)
    assert "0 of 4 objects found, 4 missed, 0 false detections" in try_it.tally.text()
    try_it.images.setCurrentRow(0)
    (first,) = try_it.predicted[0].truth or ()
    assert try_it.boxes == [f"missed {SHAPES[first.class_id]}"]
    assert try_it.images.item(0).text() == f"{names[0]}: 0 boxes, 1 missed, 0 false"
    # At the floor, every box the model reported is drawn; all but the one that finds the
    # shape are false detections.
    try_it.threshold.setValue(1)
    detections = try_it.predicted[0].detections
    assert len(try_it.boxes) == len(detections)
    assert sum(box.startswith("false ") for box in try_it.boxes) == len(detections) - 1


def test_try_it_takes_a_stored_model_the_inspectors_images_and_a_versions_val_images(
    qtbot: QtBot, training_store: TrainingStore, base_weights: Path, tmp_path: Path
) -> None:
    base = ("models", "add", str(base_weights), "--name", "me/shapes-base")
    added = run_cli(*base, "--profile", PROFILE)
    assert added.returncode == 0, added.stderr
    dashboard = dashboard_for(qtbot, training_store.backend.registry)
    try_it = dashboard.try_it
    assert try_it.model.count() == 0 and not try_it.choose.isEnabled()
    with qtbot.waitSignal(try_it.set_store(training_store.bucket, "me").finished, timeout=LONG_MS):
        pass
    assert try_it.model.currentText().startswith("me/shapes-base v1: detect")
    assert try_it.dataset.currentText() == "me/shapes v1"

    with qtbot.waitSignal(try_it.predict_validation().finished, timeout=120_000):
        pass
    val = [f"s{i:03d}.jpg" for i in range(8)]  # the version's val split, not its train split
    assert [predicted.image for predicted in try_it.predicted] == val
    assert try_it.root is not None and try_it.root.parts[-2:] == ("images", "val")
    assert "in the 8 labelled images" in try_it.tally.text()
    digest = hashlib.sha256((try_it.root / val[0]).read_bytes()).hexdigest()
    (stored,) = [f for f in training_store.manifest.files if f.path == f"images/val/{val[0]}"]
    assert digest == stored.sha256

    assert try_it.predict_selection() is None  # no window gave it an inspector
    assert try_it.notice.text() == NO_SELECTION
    photos = shapes_tree(tmp_path / "photos")
    chosen = [photos / "images/train/s002.jpg", photos / "images/train/s000.jpg"]
    try_it.selection = lambda: chosen
    selected = try_it.predict_selection()
    assert selected is not None
    with qtbot.waitSignal(selected.finished, timeout=120_000):
        pass
    assert try_it.root == photos / "images/train"
    assert [predicted.image for predicted in try_it.predicted] == ["s000.jpg", "s002.jpg"]


def test_the_x_axis_and_the_selected_runs_are_remembered(
    qtbot: QtBot, registry: RunRegistry, tmp_path: Path
) -> None:
    first = write_run(registry, epochs=3, batches=10)
    second = write_run(registry, epochs=3, batches=10, seed=1)
    state = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    backends = Backends.of(Workspace.default(), registry)
    before = RunDashboard(backends, state=state)
    qtbot.addWidget(before)
    with qtbot.waitSignal(before.runs_loaded, timeout=10_000):
        before.refresh()
    before.select_runs([second.run_id])
    before.set_axis(XAxis.EPOCH)
    before.close()

    after = RunDashboard(backends, state=state)
    qtbot.addWidget(after)
    with qtbot.waitSignal(after.runs_loaded, timeout=10_000):
        after.refresh()

    assert after.axis.currentText() == "Epoch"
    assert after.runs.selected_ids() == [second.run_id]
    assert list(after.shown_curves()) == [second.run_id]
    assert first.run_id in after.runs.infos


def test_the_tab_fits_a_1280_pixel_window(qtbot: QtBot, registry: RunRegistry) -> None:
    """Wider than the window, the plots on the right were cut off."""
    write_run(registry, epochs=3, batches=10)
    dashboard = dashboard_for(qtbot, registry)
    assert dashboard.minimumSizeHint().width() <= 1280
