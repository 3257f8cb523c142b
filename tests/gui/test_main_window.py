"""The main window connects to the embedded store without blocking, and cleans up."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox
from pytestqt.qtbot import QtBot

from datayard.core.datasets.push.queue import JobState
from datayard.core.datasets.push.request import PushRequest
from datayard.core.store.bucket import Bucket
from datayard.core.store.embedded import StopOutcome
from datayard.core.store.layout import BLOBS
from datayard.core.store.workspace import Workspace
from datayard.gui import main_window
from datayard.gui.main_window import MainWindow
from datayard.gui.workers import any_running
from tests.e2e.test_push import write_images
from tests.e2e.test_push_secret import push_process
from tests.fixtures.store_proxy import Hold
from tests.fixtures.waits import LONG_MS

pytestmark = pytest.mark.usefixtures("secret_service")


def connected(text: str) -> bool:
    return text.endswith(" connected")


def test_the_first_paint_waits_for_no_store_client_plotting_or_training_library() -> None:
    """minio (0.16 s), pyqtgraph, torch and Ultralytics (seconds) load once work needs them."""
    code = (
        "import json, sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from datayard.core.store.workspace import Workspace\n"
        "from datayard.gui.main_window import MainWindow\n"
        "app = QApplication([])\n"
        "window = MainWindow(Workspace.default())\n"
        "window.show()\n"
        "app.processEvents()\n"
        "heavy = ('minio', 'pyqtgraph', 'torch', 'ultralytics', 'cv2')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout.splitlines()[-1]) == []


def test_window_starts_the_local_store_and_stops_it_on_close(qtbot: QtBot) -> None:
    workspace = Workspace.default()
    window = MainWindow(workspace)
    qtbot.addWidget(window)
    window.show()
    assert window.store_state.text() == "Store: not connected"

    with qtbot.waitSignal(window.store_state_changed, timeout=60_000, check_params_cb=connected):
        window.connect_store()
    assert window.connection is not None
    assert "127.0.0.1" in window.store_state.text()
    assert workspace.local_status().running
    assert workspace.store.started_here

    window.close()
    assert not workspace.local_status().running


def test_the_window_is_gone_before_the_close_waits_for_workers_and_the_store(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Joining the workers and stopping the store take a second or more (SeaweedFS's own
    shutdown, now and then ten seconds more): the window is off the screen by then."""
    workspace = Workspace.default()
    window = MainWindow(workspace)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.store_state_changed, timeout=60_000, check_params_cb=connected):
        window.connect_store()
    seen: list[tuple[str, bool]] = []
    join_workers, stop_store = main_window.stop_all, workspace.stop_local

    def stop_all() -> None:
        seen.append(("workers", window.isVisible()))
        join_workers()

    def stop_local() -> StopOutcome:
        seen.append(("store", window.isVisible()))
        return stop_store()

    monkeypatch.setattr(main_window, "stop_all", stop_all)
    monkeypatch.setattr(workspace, "stop_local", stop_local)
    window.close()
    assert seen == [("workers", False), ("store", False)]
    assert not workspace.local_status().running


def test_try_it_gets_the_inspectors_images_and_the_store_connected_after_it(
    qtbot: QtBot,
) -> None:
    window = MainWindow(Workspace.default())
    qtbot.addWidget(window)
    window.show()
    window.show_training()  # built before the store is connected
    try_it = window.training.chart().try_it
    assert try_it.selection == window.inspector.chosen_images
    assert try_it.bucket is None
    with qtbot.waitSignal(window.store_state_changed, timeout=60_000, check_params_cb=connected):
        window.connect_store()
    assert window.connection is not None and try_it.bucket is not None
    assert try_it.bucket.profile == window.connection.profile
    window.close()


def test_window_reuses_a_running_store_and_leaves_it_running(qtbot: QtBot) -> None:
    outside = Workspace.default()
    outside.start_local()
    try:
        workspace = Workspace.default()
        window = MainWindow(workspace)
        qtbot.addWidget(window)
        with qtbot.waitSignal(
            window.store_state_changed, timeout=60_000, check_params_cb=connected
        ):
            window.connect_store()
        assert window.connection is not None
        assert not workspace.store.started_here
        window.close()
        assert outside.local_status().running
    finally:
        outside.stop_local()


def test_connection_failure_is_shown_as_a_message(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: shown.append(text))
    window = MainWindow(Workspace.default())
    qtbot.addWidget(window)
    with qtbot.waitSignal(
        window.store_state_changed, timeout=10_000, check_params_cb=lambda t: "not" in t
    ):
        window.connect_store("no-such-profile")
    assert window.connection is None
    assert shown and "there is no profile 'no-such-profile'" in shown[0]
    assert window.store_state.text() == "Store: not connected"


def test_first_start_connects_the_built_in_store_and_welcomes(qtbot: QtBot) -> None:
    from datayard.gui.welcome import WelcomeDialog

    workspace = Workspace.default()
    window = MainWindow(workspace)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.store_state_changed, timeout=60_000, check_params_cb=connected):
        window.start()
    assert window.connection is not None and window.connection.profile.embedded
    welcome = window.findChildren(WelcomeDialog)
    assert len(welcome) == 1 and welcome[0].isVisible()
    welcome[0].reject()
    window.close()
    assert not workspace.local_status().running


def test_menus_have_shortcuts_and_push_needs_a_selection(qtbot: QtBot) -> None:
    window = MainWindow(Workspace.default())
    qtbot.addWidget(window)
    shortcuts = {
        action.text().replace("&", ""): action.shortcut().toString()
        for menu in window.menuBar().findChildren(QMenu)
        for action in menu.actions()
        if not action.shortcut().isEmpty()
    }
    assert shortcuts["Push selection…"] == "Ctrl+P"
    assert shortcuts["Settings…"] == "Ctrl+,"
    assert shortcuts["Quit"] == "Ctrl+Q" and shortcuts["Refresh"] == "F5"
    window.push_selection()
    assert "Select folders" in window.statusBar().currentMessage()
    window.close()


def test_the_window_layout_is_remembered(qtbot: QtBot) -> None:
    first = MainWindow(Workspace.default())
    qtbot.addWidget(first)
    first.resize(760, 560)
    first.tabs.setCurrentIndex(1)
    first.log_dock.raise_()
    first.close()
    second = MainWindow(Workspace.default())
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (760, 560)
    assert second.tabs.currentIndex() == 1
    second.close()


def test_closing_with_pushes_running_asks_first(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = MainWindow(Workspace.default())
    qtbot.addWidget(window)
    window.show()
    monkeypatch.setattr(window.transfers, "has_active_jobs", lambda: True)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(_parent: object, title: str, *_args: object) -> QMessageBox.StandardButton:
        asked.append(title)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    window.close()
    assert window.isVisible()  # "No": the window stays, pushes go on
    window.close()
    assert not window.isVisible()
    assert asked == ["Pushes are running", "Pushes are running"]


def answer_the_next_question(button: QMessageBox.StandardButton) -> list[str]:
    """Click ``button`` in the next modal message box, as the user would; its title is listed."""
    asked: list[str] = []

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, click)  # not shown yet
            return
        asked.append(box.windowTitle())
        box.button(button).click()

    QTimer.singleShot(0, click)
    return asked


def test_closing_the_window_while_a_push_runs_pauses_it_for_the_next_start(
    qtbot: QtBot,
    bucket: Bucket,
    held_uploads: Callable[[int], Hold],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    source = write_images(tmp_path / "photos", 60)  # more than the push has in hand at once
    held = held_uploads(2)
    window = MainWindow(Workspace.default())
    qtbot.addWidget(window)
    window.show()
    try:
        window.transfers.enqueue(PushRequest((source,), "photos", "lab"))
        qtbot.waitUntil(held.holding.is_set, timeout=LONG_MS)
        child = push_process()

        asked = answer_the_next_question(QMessageBox.StandardButton.Yes)
        window.close()

        assert asked == ["Pushes are running"] and not window.isVisible()
        assert not child.is_running(), "the push's process outlived the window"
        assert not any_running()
        stopping = [r for r in caplog.records if r.name == "datayard.core.child_process"]
        assert [r.levelno for r in stopping] == [logging.INFO]  # asked to stop; not killed
    finally:
        # A failed check leaves pushes running: closing the window at teardown must not
        # wait for an answer to "Pushes are running" that nobody gives.
        window.transfers.has_active_jobs = lambda: False  # type: ignore[method-assign]
    stored = sum(1 for _ in bucket.objects(BLOBS))
    assert stored < 60

    later = MainWindow(Workspace.default())
    qtbot.addWidget(later)
    later.show()
    try:
        later.start()
        (offer,) = [b for b in later.findChildren(QMessageBox) if b.isVisible()]
        assert offer.windowTitle() == "Resume unfinished pushes?" and "photos" in offer.text()
        next(b for b in offer.buttons() if b.text() == "Resume all").click()
        (job,) = later.transfers.queue.jobs
        qtbot.waitUntil(
            lambda: job.state is JobState.DONE and not later.transfers.busy, timeout=LONG_MS
        )
        assert job.result is not None and job.result.uploaded_blobs == 60 - stored
    finally:
        later.transfers.has_active_jobs = lambda: False  # type: ignore[method-assign]
    later.close()
