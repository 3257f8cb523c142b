"""The main window: for now, the store connection and the folders to browse."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from datayard.core.workspace import Connection, Workspace

from .workers import Operation, call_in_background, stop_all

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    store_state_changed = Signal(str)
    """The status-bar text of the store connection, after every change."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.connection: Connection | None = None
        self.setWindowTitle("Datayard")
        self.resize(1100, 700)
        settings = workspace.settings()
        roots = "\n".join(settings.roots) or "No shared-drive folders configured yet."
        welcome = QLabel(f"<h2>Datayard</h2><p>Owner: {settings.owner}</p><p>{roots}</p>")
        welcome.setAlignment(Qt.AlignmentFlag.AlignCenter)
        welcome.setTextFormat(Qt.TextFormat.RichText)
        self.setCentralWidget(welcome)
        self.store_state = QLabel("Store: not connected")
        self.statusBar().addPermanentWidget(self.store_state)
        self.store_state_changed.connect(self.store_state.setText)

    def connect_store(self, profile: str | None = None) -> Operation:
        self.store_state_changed.emit("Store: connecting…")
        # Starting the embedded store takes a second or more: never on the UI thread.
        operation = call_in_background(lambda: self.workspace.connect(profile), self)
        operation.finished.connect(self._on_connected)
        operation.failed.connect(self._on_connect_failed)
        return operation

    def _on_connected(self, connection: Connection) -> None:
        self.connection = connection
        profile = connection.profile
        self.store_state_changed.emit(f"Store: {profile.name} ({profile.endpoint}) connected")

    def _on_connect_failed(self, error: Exception) -> None:
        self.store_state_changed.emit("Store: not connected")
        QMessageBox.warning(self, "Datayard: store unavailable", str(error))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        # Workers are cancelled and joined before the store they may use goes away.
        stop_all()
        if self.workspace.store.started_here:
            log.info("stopping the embedded store started by this app")
            self.workspace.stop_local()
        super().closeEvent(event)
