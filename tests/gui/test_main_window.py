"""The main window connects to the embedded store without blocking, and cleans up."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from datayard.core.workspace import Workspace
from datayard.gui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("secret_service")


def connected(text: str) -> bool:
    return text.endswith(" connected")


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
