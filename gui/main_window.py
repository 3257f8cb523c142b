"""The main window: the shared drive on the left, what it holds in the middle,
transfers and the log at the bottom, the store's state in the status bar.

It only composes the panels and wires their signals; each panel owns its
behaviour. Window geometry, dock positions, the selected tab, the height of the open
Transfers panel and the last folder browsed are kept in QSettings (UI state, not user
settings, which live in settings.toml).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QPalette,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from datayard.core.datasets.manifest import Manifest
from datayard.core.settings import Settings
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Connection, Workspace
from datayard.core.training.backends import Backends
from datayard.core.training.runs import RunFolder

from .about import AboutDialog
from .archive_page import ArchivePage
from .browser import DriveBrowser
from .datasets import DatasetsView
from .dock_fold import DockFold
from .inspector import Inspector
from .inspector.lazy_chart import LazyChart
from .log_panel import LogPanel
from .notice import ERROR_COLOR
from .rich_text import as_written, plain_label
from .settings_dialog import SettingsDialog
from .training.runs_list import remote_runs_going
from .transfers import TransfersPanel
from .transfers.drop_area import take_paths
from .welcome import WelcomeDialog, is_first_start
from .workers import Operation, call_in_background, stop_all

if TYPE_CHECKING:
    from .training.dashboard import RunDashboard

log = logging.getLogger(__name__)

_STATE_VERSION = 1
ARCHIVE_TAB = "Archive"


class MainWindow(QMainWindow):
    store_state_changed = Signal(str)
    """The status-bar text of the store connection, after every change."""

    def __init__(self, workspace: Workspace, *, state: QSettings | None = None) -> None:
        """``state`` keeps the layout and the last folder (the app's own QSettings if omitted)."""
        super().__init__()
        self.workspace = workspace
        self._state = state if state is not None else QSettings("Datayard", "Datayard")
        self.connection: Connection | None = None
        self.setWindowTitle("Datayard")
        self.resize(1280, 760)

        # The inspector scans what is selected and hands the results to the tree's
        # badges, so a selected folder is not scanned twice.
        self.browser = DriveBrowser(workspace, scan_on_select=False, state=self._state)
        self.inspector = Inspector(workspace)
        self.datasets = DatasetsView(workspace)
        self.backend = Backends.of(workspace)
        # The dashboard brings pyqtgraph: built when its tab is first shown.
        self.training = LazyChart(self._build_dashboard)
        self.transfers = TransfersPanel(workspace)
        self.log_panel = LogPanel()

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.inspector, "Inspector")
        self.tabs.addTab(self.datasets, "Datasets in the store")
        self.tabs.addTab(self.training, "Training")
        self.archive = ArchivePage(workspace, state=self._state)
        self.tabs.addTab(self.archive, ARCHIVE_TAB)
        self.setCentralWidget(self.tabs)
        self.browser_dock = self._dock(
            "Shared drive", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.transfers_dock = self._dock(
            "Transfers", self.transfers, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.log_dock = self._dock("Log", self.log_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.transfers_dock, self.log_dock)
        self.transfers_dock.raise_()
        self.transfers_fold = DockFold(
            self, self.transfers_dock, state=self._state, key="window/transfers_height"
        )
        # Anything dragged in opens Transfers, and a drop anywhere pushes what it carries.
        self.setAcceptDrops(True)

        self.store_state = plain_label("Store: not connected")
        self.statusBar().addPermanentWidget(self.store_state)
        self.store_state_changed.connect(self.store_state.setText)

        self._build_menus()
        self._wire()
        self._restore_layout()
        self.transfers_fold.set_folded(not self.transfers.is_open)

    # -- composition -----------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_").lower())  # saveState needs names
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(
        self,
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
        slot: object,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self.push_action = self._action("&Push selection…", "Ctrl+P", self.push_selection)
        file_menu.addAction(self.push_action)
        file_menu.addAction(
            self._action("&Refresh", QKeySequence.StandardKey.Refresh, self.refresh)
        )
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Settings…", "Ctrl+,", self.open_settings))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", "Ctrl+Q", self.close))

        view_menu = menus.addMenu("&View")
        view_menu.addAction(
            self._action("&Inspector", "Ctrl+1", lambda: self.tabs.setCurrentIndex(0))
        )
        view_menu.addAction(self._action("&Datasets", "Ctrl+2", self.show_datasets))
        view_menu.addAction(self._action("&Training runs", "Ctrl+3", self.show_training))
        view_menu.addAction(self._action("&Archive", "Ctrl+4", self.show_archive))
        view_menu.addSeparator()
        for dock in (self.browser_dock, self.transfers_dock, self.log_dock):
            view_menu.addAction(dock.toggleViewAction())

        help_menu = menus.addMenu("&Help")
        help_menu.addAction(self._action("&About Datayard", None, self.show_about))

    def _wire(self) -> None:
        self.browser.selection_changed.connect(self.inspector.inspect)
        self.inspector.inspected.connect(self.browser.add_results)
        self.browser.add_root_requested.connect(self.open_settings)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.datasets.train_requested.connect(self.open_training_dialog)
        self.transfers.open_changed.connect(self._on_transfers_open)
        self.archive.attention_changed.connect(self._on_archive_attention)

    # -- actions ---------------------------------------------------------------

    def push_selection(self) -> None:
        paths = self.browser.selected_paths()
        if not paths:
            self.statusBar().showMessage(
                "Select folders in the shared drive first, or drop them on the Transfers panel.",
                5000,
            )
            return
        self.transfers_dock.raise_()
        self.transfers.request_push(paths)

    def _on_transfers_open(self, open_: bool) -> None:
        self.transfers_fold.set_folded(not open_)
        if open_:
            self.transfers_dock.show()
            self.transfers_dock.raise_()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if take_paths(event):
            self.transfers.set_open(True)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        take_paths(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = take_paths(event)
        if paths:
            self.transfers.request_push(paths)

    def refresh(self) -> None:
        self.browser.refresh()
        if self.tabs.currentWidget() is self.datasets:
            self.datasets.refresh()

    def show_datasets(self) -> None:
        self.tabs.setCurrentWidget(self.datasets)

    def show_training(self) -> None:
        self.tabs.setCurrentWidget(self.training)

    def show_archive(self) -> None:
        self.tabs.setCurrentWidget(self.archive)

    def _on_archive_attention(self, failed: int) -> None:
        """A failed unattended pass is told on the tab until the user has looked at it."""
        index = self.tabs.indexOf(self.archive)
        self.tabs.setTabText(index, f"{ARCHIVE_TAB} ({failed} failed)" if failed else ARCHIVE_TAB)
        self.tabs.tabBar().setTabTextColor(
            index,
            QColor(ERROR_COLOR)
            if failed
            else self.tabs.palette().color(QPalette.ColorRole.WindowText),
        )

    def _build_dashboard(self) -> QWidget:
        from .training.dashboard import RunDashboard

        dashboard = RunDashboard(self.backend, state=self._state)
        dashboard.try_it.selection = self.inspector.chosen_images
        if self.connection is not None:
            self._offer_store(dashboard, self.connection)
        return dashboard

    def _offer_store(self, dashboard: RunDashboard, connection: Connection) -> None:
        """Try it offers the connected store's models and dataset versions."""
        bucket = Bucket(connection.profile, connection.secret)
        dashboard.try_it.set_store(bucket, self.workspace.settings().owner)

    def open_training_dialog(self, manifest: Manifest) -> QWidget:
        from .training.train_dialog import TrainDialog

        dialog = TrainDialog(
            manifest,
            self.backend,
            self,
            profile=self.datasets.profile.currentData(),
            cache=self.workspace.dirs.cache,
            bucket=self.datasets.contents.bucket if self.datasets.contents else None,
        )
        dialog.launched.connect(self._show_run)
        dialog.open()
        return dialog

    def _show_run(self, folder: RunFolder) -> None:
        self.show_training()
        dashboard = self.training.chart()
        dashboard.refresh().finished.connect(lambda _: dashboard.select_runs([folder.run_id]))

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.datasets:
            self.datasets.refresh()
        elif self.tabs.widget(index) is self.training:
            self.training.chart().refresh()
        elif self.tabs.widget(index) is self.archive and self.connection is not None:
            self.archive.refresh()

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.workspace, self)
        dialog.settings_saved.connect(self._on_settings_saved)
        dialog.open()
        return dialog

    def _on_settings_saved(self, settings: Settings) -> None:
        self.browser.set_roots(list(settings.roots))
        self.datasets.reload_profiles()
        self.connect_store()

    def show_about(self) -> None:
        AboutDialog(self.workspace.dirs, self).open()

    def start(self) -> None:
        """Once the window is on screen: connect the store, then welcome or resume.

        The default profile is the embedded store, so a first start is ready to
        push while the welcome asks for the shared-drive folder.
        """
        first = is_first_start(self.workspace)
        self.connect_store()
        self._reattach()
        if first:
            welcome = WelcomeDialog(self.workspace, self)
            welcome.settings_saved.connect(self._on_settings_saved)
            welcome.open()
        else:
            self.transfers.offer_interrupted()

    def _reattach(self) -> None:
        """Follow the runs on hosts that are still going, Training tab open or not: their
        copies here, and the tunnels to the store of those that need one, depend on it."""
        operation = call_in_background(lambda: remote_runs_going(self.backend), self)
        operation.finished.connect(self._follow_remote_runs)

    def _follow_remote_runs(self, going: bool) -> None:
        if going:
            self.training.chart().refresh()  # the dashboard follows every live remote run

    # -- the store connection ----------------------------------------------------

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
        if self.training.built:
            self._offer_store(self.training.chart(), connection)
        self.archive.refresh()  # a failed unattended pass is told at once

    def _on_connect_failed(self, error: Exception) -> None:
        self.store_state_changed.emit("Store: not connected")
        QMessageBox.warning(
            self,
            "Datayard: store unavailable",
            as_written(f"{error}\n\nCheck the storage profile in File → Settings."),
        )

    # -- layout and closing ------------------------------------------------------

    def _restore_layout(self) -> None:
        state = self._state
        geometry = state.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        docks = state.value("window/state")
        if isinstance(docks, QByteArray):
            self.restoreState(docks, _STATE_VERSION)
        self.tabs.setCurrentIndex(int(str(state.value("window/tab", 0))))

    def _save_layout(self) -> None:
        self.transfers_fold.remember()
        state = self._state
        state.setValue("window/geometry", self.saveGeometry())
        state.setValue("window/state", self.saveState(_STATE_VERSION))
        state.setValue("window/tab", self.tabs.currentIndex())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.transfers.has_active_jobs() and not self._confirm_quit():
            event.ignore()
            return
        self.transfers.pause_all()
        self._save_layout()
        # What follows (joining the workers, stopping the store: a second or more) runs
        # with the window already gone, as the user asked, not frozen on the screen.
        self.hide()
        QGuiApplication.sync()
        # Workers are cancelled and joined before the store they may use goes away.
        for panel in (self.browser, self.inspector, self.archive):
            panel.stop()
        if self.training.built:
            self.training.chart().shutdown()
        stop_all()
        self.backend.close()  # the hosts' runs go on; the next start follows them again
        if self.workspace.store.started_here:
            log.info("stopping the embedded store started by this app")
            self.workspace.stop_local()
        super().closeEvent(event)

    def _confirm_quit(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Pushes are running",
            "Pushes are still running. Pause them and quit? They are offered for "
            "resuming at the next start, and nothing already sent is sent again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes


def delayed_start(window: MainWindow) -> None:
    """Start after the first paint, so the window appears before any dialog or work."""
    QTimer.singleShot(0, window.start)
