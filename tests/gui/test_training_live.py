"""The dashboard and the main window with a real worker training on the CPU."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from datayard.core.store.workspace import Workspace
from datayard.core.training.backends import Backends
from datayard.core.training.curves import BATCH, TRAIN, VAL
from datayard.core.training.runs import RunStatus
from datayard.gui.main_window import MainWindow
from datayard.gui.training.dashboard import RunDashboard
from tests.e2e.test_training import no_network  # noqa: F401 - every worker stays offline
from tests.fixtures.training import PROFILE, TrainingStore
from tests.fixtures.waits import LONG_MS
from tests.gui.test_dashboard import points, row


def test_the_dashboard_draws_a_real_run_live_and_pauses_it(
    qtbot: QtBot, training_store: TrainingStore
) -> None:
    backend = Backends.default()
    folder = backend.launch(training_store.spec(epochs=30), training_store.ref)
    dashboard = RunDashboard(backend)
    qtbot.addWidget(dashboard)
    dashboard.resize(1366, 768)
    dashboard.show()
    dashboard.refresh()
    qtbot.waitUntil(lambda: dashboard.runs.topLevelItemCount() == 1, timeout=LONG_MS)
    dashboard.select_runs([folder.run_id])

    # Curves grow while the worker trains: at least one whole epoch and the next one started.
    qtbot.waitUntil(
        lambda: (
            points(dashboard, "batch:box_loss", folder.run_id, BATCH + "box_loss", "smooth") > 4
        ),
        timeout=LONG_MS,
    )
    assert points(dashboard, "epoch:box_loss", folder.run_id, TRAIN + "box_loss") >= 1
    # The list was read as the worker started; its row follows the events, not only the end.
    assert row(dashboard, folder.run_id)["Status"] == "running"
    assert row(dashboard, folder.run_id)["Best mAP50-95"] != ""
    qtbot.waitUntil(dashboard.pause_button.isEnabled, timeout=LONG_MS)
    dashboard.pause_button.click()
    qtbot.waitUntil(lambda: folder.summary().status is RunStatus.PAUSED, timeout=LONG_MS)
    qtbot.waitUntil(lambda: row(dashboard, folder.run_id)["Status"] == "paused", timeout=LONG_MS)
    qtbot.waitUntil(dashboard.resume_button.isEnabled, timeout=LONG_MS)
    assert not dashboard.stop_button.isEnabled()
    shown = dashboard.shown_curves()[folder.run_id]
    assert shown.get(VAL + "box_loss") is not None
    dashboard.shutdown()


def test_train_from_the_datasets_view_opens_the_dialog_and_shows_the_run(
    qtbot: QtBot, training_store: TrainingStore, tmp_path: Path
) -> None:
    window = MainWindow(Workspace.default())
    qtbot.addWidget(window)
    window.datasets.reload_profiles()
    window.datasets.profile.setCurrentIndex(window.datasets.profile.findData(PROFILE))
    dialog = window.open_training_dialog(training_store.manifest)
    dialog.epochs.setValue(1)
    dialog.imgsz.setValue(64)
    dialog.batch.setValue(4)
    with qtbot.waitSignal(dialog.launched, timeout=LONG_MS) as launched:
        dialog.accept()
    folder = launched.args[0]
    assert window.tabs.currentWidget() is window.training
    dashboard = window.training.chart()
    qtbot.waitUntil(lambda: folder.run_id in dashboard.shown_curves(), timeout=LONG_MS)
    qtbot.waitUntil(lambda: folder.summary().status.ended, timeout=120_000)
    assert folder.summary().status is RunStatus.FINISHED, folder.summary().message
    window.close()
