"""The shared-drive browser: the configured roots as one tree, lazy, watched, with badges.

Every disk access runs in a worker (ordering the roots, listing a folder,
scanning for badges); this widget only turns their results into rows. Folders
the user opened are watched, so files that appear are picked up; F5 re-lists
them all (network shares do not always report changes). The folder last selected is
selected again at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import (
    QFileSystemWatcher,
    QItemSelection,
    QModelIndex,
    QSettings,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QToolBar,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from datayard.core.drive.folder_listing import Listing, Root, list_folder, order_roots
from datayard.core.drive.inspection import FolderChecked, FolderSummary, Inspection, inspect
from datayard.core.events import CancelToken, Finished, Progress
from datayard.core.stepwise import release_stepwise
from datayard.core.store.workspace import Workspace

from ..heap import settle_soon
from ..operation_bar import OperationBar, describe_error
from ..workers import Operation, call_in_background, run_in_background
from .badges import BadgeDelegate, is_stale
from .last_folder import LastFolder
from .tree import FolderTree, FolderUpdate, Kind, Role, plan_update

log = logging.getLogger(__name__)

SCAN_DELAY_MS = 400
"""A selection must rest this long before it is scanned: arrowing through folders
should not start (and cancel) a scan per folder."""
WATCH_DELAY_MS = 200
"""Changes reported within this time are re-listed together."""


class DriveBrowser(QWidget):
    selection_changed = Signal(list)
    """The selected folders and images, as ``list[Path]``."""
    add_root_requested = Signal()
    """The user asked to add a shared-drive folder (the settings dialog does it)."""
    folder_checked = Signal(object)
    """A folder was scanned and checked: its :class:`FolderSummary`."""

    def __init__(
        self,
        workspace: Workspace,
        parent: QWidget | None = None,
        *,
        scan_on_select: bool = True,
        state: QSettings | None = None,
    ) -> None:
        """``state`` keeps the selected folder from one start to the next."""
        super().__init__(parent)
        self.workspace = workspace
        self.scan_on_select = scan_on_select
        """Scan selected folders for their badges; off when the inspector's results are fed
        in through :meth:`add_results` instead, so the same folder is not scanned twice."""
        self.model = FolderTree(self)
        self.summaries: dict[Path, FolderSummary] = {}
        """Badges by folder, in memory; each knows the folder mtime it was made for."""
        self._roots: list[str] = []
        self._owner_folder: Path | None = None
        self._listings: dict[str, Operation] = {}
        self._roots_operation: Operation | None = None
        self._scan: Operation | None = None
        self._changed: set[str] = set()

        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setItemDelegate(BadgeDelegate(self.tree))
        self.tree.expanded.connect(self._on_expanded)
        self.tree.selectionModel().selectionChanged.connect(self._on_selection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        self.refresh_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.refresh_action.setToolTip("Read the folders again (F5)")
        self.refresh_action.triggered.connect(self.refresh)
        self.scan_action = QAction("Scan", self)
        self.scan_action.setToolTip("Count images and labels and check the selected folders")
        self.scan_action.triggered.connect(lambda: self.scan(self.selected_folders(), force=True))
        add_action = QAction("Add a folder…", self)
        add_action.triggered.connect(self.add_root_requested)
        for action in (self.scan_action, self.refresh_action, add_action):
            self.tree.addAction(action)
        self.addAction(self.refresh_action)
        toolbar = QToolBar()
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.scan_action)
        toolbar.addAction(self.refresh_action)
        toolbar.addAction(add_action)

        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_directory_changed)
        self._watch_timer = QTimer(self, singleShot=True, interval=WATCH_DELAY_MS)
        self._watch_timer.timeout.connect(self._relist_changed)
        self._scan_timer = QTimer(self, singleShot=True, interval=SCAN_DELAY_MS)
        self._scan_timer.timeout.connect(lambda: self.scan(self.selected_folders()))
        self.model.folder_filled.connect(self._on_filled)
        self.last_folder = LastFolder(self.tree, self.model, state)

        self.bar = OperationBar()
        self.pages = QStackedWidget()
        self.pages.addWidget(self._empty_state())
        self.pages.addWidget(self.tree)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(toolbar)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.bar)
        self.set_roots(list(workspace.settings().roots))

    def _empty_state(self) -> QWidget:
        page = QWidget()
        text = QLabel(
            "<h3>No shared-drive folders yet</h3>"
            "<p>Add the folders where your image sets live, your own folder first. "
            "Datayard only reads them.</p>"
        )
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.add_button = QPushButton("Add a folder…")
        self.add_button.clicked.connect(self.add_root_requested)
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        layout.addWidget(text)
        layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        return page

    # Roots -------------------------------------------------------------------

    def set_roots(self, roots: list[str]) -> None:
        """Show these shared-drive folders (after the settings changed)."""
        self._roots = list(roots)
        self.pages.setCurrentIndex(1 if roots else 0)
        self.tree.setEnabled(bool(roots))
        if not roots:
            self.model.set_roots([])
            return
        owner = self.workspace.settings().owner
        if self._roots_operation is not None:
            self._roots_operation.cancel()
        operation = call_in_background(lambda: order_roots(roots, owner), self)
        operation.finished.connect(self._show_roots)
        operation.failed.connect(self.bar.show_error)
        self._roots_operation = operation

    def _show_roots(self, roots: list[Root]) -> None:
        self._roots_operation = None
        self._cancel_listings()
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        self.model.set_roots(roots)
        for summary in self.summaries.values():
            self.model.set_summary(summary)
        usable = [root for root in roots if root.problem is None]
        if usable:
            first = usable[0]
            self._owner_folder = first.owner_folder
            item = self.model.folder(first.path)
            if item is not None:
                self.tree.expand(item.index())
        self.last_folder.resume()

    # Listing -----------------------------------------------------------------

    def _on_expanded(self, index: QModelIndex) -> None:
        path = index.data(Role.PATH)
        item = self.model.folder(path) if path else None
        if item is not None and not self.model.is_loaded(item):
            self._list(path)

    def _list(self, path: str) -> None:
        if path in self._listings:
            return
        folder = Path(path)
        known = self.model.known(path)

        def run(token: CancelToken) -> Iterator[object]:
            for event in list_folder(folder, cancel=token):
                if isinstance(event, Finished):
                    listing: Listing = event.result
                    update = plan_update(listing, known)
                    # Freed here, a slice at a time: all at once, on the UI thread, 100,000
                    # entries stalled it for 20-50 ms.
                    release_stepwise(listing.entries)
                    yield Finished(update)
                else:
                    yield event

        operation = run_in_background(run, self)
        self._listings[path] = operation
        operation.yielded.connect(lambda event: self._on_listing_progress(path, event))
        operation.finished.connect(self._on_listed)
        operation.failed.connect(lambda error: self._on_listing_failed(path, error))
        operation.ended.connect(lambda: self._listing_ended(path, operation))

    def _listing_ended(self, path: str, operation: Operation) -> None:
        if self._listings.get(path) is operation:
            del self._listings[path]
        operation.deleteLater()  # it holds the listing: a big folder's worth of memory

    def _on_listing_progress(self, path: str, event: object) -> None:
        if isinstance(event, Progress):
            self.model.show_note(path, f"Loading… {event.done:,} entries so far")

    def _on_listed(self, update: FolderUpdate) -> None:
        path = update.folder
        if not self.model.apply(update):
            self._changed.add(path)  # the rows changed while it was listed: list it again
            self._watch_timer.start()
            return
        if path not in self.watcher.directories():
            self.watcher.addPath(path)

    def _on_listing_failed(self, path: str, error: Exception) -> None:
        self.model.show_note(path, f"Cannot open: {describe_error(error)}", warning=True)

    def _on_filled(self, path: str) -> None:
        item = self.model.folder(path)
        rows = item.rowCount() if item is not None else 0
        settle_soon(rows, self)
        owner = self._owner_folder
        if owner is not None and Path(path) == owner.parent:
            mine = self.model.folder(owner)
            if mine is not None:
                self._owner_folder = None
                self.tree.expand(mine.index())
                self.tree.scrollTo(mine.index(), QAbstractItemView.ScrollHint.PositionAtTop)
        summary = self.summaries.get(Path(path))
        selected = Path(path) in self.selected_folders()
        if summary and item and selected and is_stale(summary, item.index()):
            self._scan_timer.start()  # the selected folder changed: its badges are out of date

    def _on_directory_changed(self, path: str) -> None:
        self._changed.add(path)
        self._watch_timer.start()

    def _relist_changed(self) -> None:
        for path in sorted(self._changed):
            if path in self.model.loaded_folders():
                self._list(path)
            else:
                self.watcher.removePath(path)
        self._changed.clear()

    def refresh(self) -> None:
        """Read every opened folder again, and retry the roots that could not be read."""
        for path in self.model.loaded_folders():
            self._list(path)
        unreadable = [path for path in self._roots if self.model.folder(Path(path)) is None]
        if unreadable or not self.model.rowCount():
            self.set_roots(self._roots)

    def _cancel_listings(self) -> None:
        for operation in list(self._listings.values()):
            operation.cancel()
        self._listings.clear()

    # Selection and badges ------------------------------------------------------

    def selected_paths(self) -> list[Path]:
        rows = self.tree.selectionModel().selectedRows()
        kinds = (Kind.FOLDER, Kind.FILE)
        return [Path(index.data(Role.PATH)) for index in rows if index.data(Role.KIND) in kinds]

    def selected_folders(self) -> list[Path]:
        return [path for path in self.selected_paths() if self.model.folder(path) is not None]

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.last_folder.remember(self.selected_folders())
        self.selection_changed.emit(self.selected_paths())
        if self.scan_on_select:
            self._scan_timer.start()

    def scan(self, folders: list[Path], *, force: bool = False) -> Operation | None:
        """Scan and check ``folders`` for their badges (those with fresh badges only if forced)."""
        if not force:
            folders = [folder for folder in folders if not self._fresh(folder)]
        if not folders:
            return None
        if self._scan is not None:
            self._scan.cancel()
        database = self.workspace.dirs.database

        def run(token: CancelToken) -> Iterator[object]:
            return inspect(folders, database=database, measure=False, cancel=token)

        operation = run_in_background(run, self)
        operation.yielded.connect(self._on_scan_event)
        operation.ended.connect(lambda: self._scan_ended(operation))
        names = ", ".join(folder.name for folder in folders[:3])
        self.bar.track(operation, f"Scanning {names}…")
        self._scan = operation
        return operation

    def _fresh(self, folder: Path) -> bool:
        summary = self.summaries.get(folder)
        item = self.model.folder(folder)
        return summary is not None and (item is None or not is_stale(summary, item.index()))

    def _on_scan_event(self, event: object) -> None:
        if isinstance(event, FolderChecked):
            self._remember(event.summary)

    def _scan_ended(self, operation: Operation) -> None:
        if self._scan is operation:
            self._scan = None

    def _remember(self, summary: FolderSummary) -> None:
        self.summaries[summary.folder] = summary
        self.model.set_summary(summary)
        self.folder_checked.emit(summary)

    def add_results(self, inspection: Inspection) -> None:
        """Take the badges of folders the inspector has already checked."""
        for summary in inspection.folders:
            self._remember(summary)

    # Closing -----------------------------------------------------------------

    def stop(self) -> None:
        """Cancel everything this browser runs (the window calls it on close)."""
        self._cancel_listings()
        for operation in (self._scan, self._roots_operation):
            if operation is not None:
                operation.cancel()
        self._scan_timer.stop()
        self._watch_timer.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)
