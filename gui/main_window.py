"""The main window: for now, the store connection and the folders to browse."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox
from superqt.utils import WorkerBase, create_worker

from datayard.core.errors import DatayardError
from datayard.core.workspace import Connection, Workspace

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

    def connect_store(self, profile: str | None = None) -> WorkerBase[Connection]:
        self.store_state_changed.emit("Store: connecting…")
        # Starting the embedded store takes a second or more: never on the UI thread.
        worker: WorkerBase[Connection] = create_worker(
            self.workspace.connect,
            profile,
            _connect={"returned": self._on_connected, "errored": self._on_connect_failed},
        )
        return worker

    def _on_connected(self, connection: Connection) -> None:
        self.connection = connection
        profile = connection.profile
        self.store_state_changed.emit(f"Store: {profile.name} ({profile.endpoint}) connected")

    def _on_connect_failed(self, error: Exception) -> None:
        self.store_state_changed.emit("Store: not connected")
        if not isinstance(error, DatayardError):
            log.error("connecting to the store failed", exc_info=error)
        QMessageBox.warning(self, "Datayard: store unavailable", str(error))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        # Workers are cancelled and joined before the store they may use goes away.
        WorkerBase.await_workers()
        if self.workspace.store.started_here:
            log.info("stopping the embedded store started by this app")
            self.workspace.stop_local()
        super().closeEvent(event)
