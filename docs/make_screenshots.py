"""Render the README's screenshots of the desktop app, offscreen, at 1366x768.

    .venv/bin/python docs/make_screenshots.py

Everything runs in a temporary home: private XDG folders, a private Secret
Service, the embedded object store, and the generated messy shared-drive tree
of the tests, so the pictures show real data going through the real code.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
SCREEN = (1366, 768)


def wait_until(app: object, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the event loop run until ``condition()`` holds: background work lands."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the state to photograph")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.02)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    home = Path(tempfile.mkdtemp(prefix="datayard-shots-"))
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[variable] = str(home / variable.lower())
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from PySide6.QtWidgets import QApplication

    from datayard.core.datasets.push.request import PushRequest
    from datayard.core.settings import Settings
    from datayard.core.store.workspace import Workspace
    from datayard.gui.main_window import MainWindow
    from datayard.gui.settings_dialog import STORAGE_TAB, SettingsDialog
    from tests.fixtures.messy_tree import make_clean_set, make_messy_tree
    from tests.fixtures.services import private_secret_service

    drive = home / "share"
    tree = make_messy_tree(drive / "ada")
    pets = make_clean_set(drive / "ada" / "pets")
    with private_secret_service(home / "keyring"):
        app = QApplication([])
        workspace = Workspace.default()
        workspace.save(Settings(owner="ada", roots=(str(drive / "ada"),)))
        workspace.start_local()
        window = MainWindow(workspace)
        window.resize(*SCREEN)
        window.show()
        try:
            window.connect_store()
            wait_until(app, lambda: window.connection is not None)

            window.inspector.inspect([tree.root / "road_signs"])
            wait_until(app, lambda: window.inspector.bar.isHidden())
            settle(app, 2.0)  # thumbnails arrive from their workers
            shoot(app, window, "main-window")
            shoot(app, window.inspector, "inspector")

            job = window.transfers.enqueue(PushRequest((pets,), "pets", "local"))
            wait_until(app, lambda: not window.transfers.queue.get(job.id).active)
            window.transfers_dock.raise_()
            shoot(app, window, "push-queue")

            window.show_datasets()
            tree_view = window.datasets.tree
            wait_until(app, lambda: tree_view.topLevelItemCount() > 0)
            dataset = tree_view.topLevelItem(0)
            dataset.setExpanded(True)
            tree_view.setCurrentItem(dataset.child(0))
            settle(app, 0.5)
            shoot(app, window, "datasets")

            # A real (tiny) training on the pushed set, started from the Train dialog.
            (manifest,) = window.datasets.selected_versions()
            trainer = window.open_training_dialog(manifest)
            trainer.epochs.setValue(12)
            trainer.imgsz.setValue(64)
            trainer.batch.setValue(4)
            shoot(app, trainer, "train-dialog")
            trainer.accept()
            wait_until(app, lambda: trainer.run_folder is not None)
            run = trainer.run_folder
            wait_until(app, lambda: run.summary().status.ended, timeout=600)
            dashboard = window.training.chart()
            dashboard.refresh()
            wait_until(app, lambda: dashboard.runs.topLevelItemCount() > 0)
            dashboard.select_runs([run.run_id])
            wait_until(app, lambda: run.run_id in dashboard.shown_curves())
            settle(app, 2.0)
            shoot(app, window, "training")

            dialog = SettingsDialog(workspace, window)
            dialog.resize(860, 600)
            dialog.show()
            shoot(app, dialog, "settings")
            dialog.tabs.setCurrentIndex(STORAGE_TAB)
            shoot(app, dialog, "settings-storage")
            dialog.close()
        finally:
            window.close()
            workspace.stop_local()


def settle(app: object, seconds: float) -> None:
    """Run the event loop for a moment, for work that has no signal to wait on."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.02)


def shoot(app: object, widget: object, name: str) -> None:
    app.processEvents()  # type: ignore[attr-defined]
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))  # type: ignore[attr-defined]
    print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
