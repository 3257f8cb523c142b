"""The store's datasets and versions: pick a profile, select, read, compare, pull."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from datayard.core.datasets.catalog import BrokenVersion, VersionHistory
from datayard.core.datasets.describe import count, parent_text
from datayard.core.datasets.listing import StoreContents, load_store, version_ref
from datayard.core.datasets.manifest import Manifest
from datayard.core.errors import DatayardError, printable
from datayard.core.events import Progress
from datayard.core.models.describe import TrainedModel, trained_models
from datayard.core.settings import LOCAL_PROFILE
from datayard.core.store.workspace import Workspace
from datayard.core.units import size

from ..notice import ERROR_COLOR, Notice
from ..rich_text import as_written
from ..sortable import SORT_KEY, SortableItem
from ..workers import Operation, call_in_background, run_in_background
from .details import VersionDetails, VersionDiff
from .formatting import when
from .pull_panel import PullPanel
from .stored_images import StoredImagesView, VersionCompareView

log = logging.getLogger(__name__)

COLUMNS = ("Dataset / version", "Owner", "Versions", "Files", "Size", "Classes", "Created")
_NAME, _OWNER, _VERSIONS, _FILES, _SIZE, _CLASSES, _CREATED = range(len(COLUMNS))
_HINT = "Select a version to see what it holds; select two to compare them."
_UNREADABLE = "cannot be read"
_BROKEN_SHOWN = 5
"""Unreadable versions named in the notice above the list; each row has its reason too."""


class _Row(SortableItem):
    """Holds the manifest it shows (a dataset: its newest) and its number (v1, v2...)."""

    def __init__(
        self, cells: list[str], manifest: Manifest, number: int, keys: dict[int, int]
    ) -> None:
        super().__init__(cells)
        self.manifest = manifest
        self.number = number
        for column, key in keys.items():
            self.setData(column, SORT_KEY, key)
            self.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)


def _dataset_row(dataset: VersionHistory[Manifest]) -> SortableItem:
    """The dataset as its newest version that can be read, with every version below."""
    latest = dataset.latest
    row = _unreadable_dataset_row(dataset) if latest is None else _newest_row(dataset, latest)
    row.addChildren([_version_row(m, dataset.number(m)) for m in dataset.versions])
    after = len(dataset.versions) + 1  # listed after the versions that can be read
    row.addChildren([_broken_row(b, after + i) for i, b in enumerate(dataset.broken)])
    return row


def _newest_row(dataset: VersionHistory[Manifest], latest: Manifest) -> _Row:
    row = _Row(
        [
            dataset.name,
            dataset.owner,
            str(len(dataset.versions)),
            str(len(latest.files)),
            size(latest.total_bytes),
            ", ".join(latest.class_names),
            when(latest.created),
        ],
        latest,
        len(dataset.versions),
        {_VERSIONS: len(dataset.versions), _FILES: len(latest.files), _SIZE: latest.total_bytes},
    )
    newest = (
        f"{dataset.owner}/{dataset.name}: the newest version is v{len(dataset.versions)}, "
        f"{latest.id}"
    )
    row.setToolTip(_NAME, as_written(newest))
    row.setToolTip(_CLASSES, as_written(", ".join(latest.class_names)))
    return row


def _unreadable_dataset_row(dataset: VersionHistory[Manifest]) -> SortableItem:
    """Names from the keys, which nothing has checked: shown escaped."""
    name, owner = printable(dataset.name), printable(dataset.owner)
    row = SortableItem([name, owner, "0", "", "", "", ""])
    row.setToolTip(_NAME, as_written(f"{owner}/{name}: no version can be read"))
    return row


def _version_row(manifest: Manifest, number: int) -> _Row:
    row = _Row(
        [
            f"v{number}  {manifest.id}",
            manifest.pushed_by,
            "",
            str(len(manifest.files)),
            size(manifest.total_bytes),
            ", ".join(manifest.class_names),
            when(manifest.created),
        ],
        manifest,
        number,
        {_FILES: len(manifest.files), _SIZE: manifest.total_bytes},
    )
    row.setData(_NAME, SORT_KEY, number)
    row.setToolTip(_OWNER, "pushed by")
    if manifest.message:
        row.setToolTip(_NAME, as_written(manifest.message))
    return row


def _broken_row(broken: BrokenVersion, place: int) -> SortableItem:
    """A version whose manifest cannot be used: listed and marked, never pulled or trained on;
    it has no number, and sorts at ``place`` among its dataset's versions."""
    row = SortableItem([printable(broken.id), _UNREADABLE, "", "", "", "", ""])
    row.setData(_NAME, SORT_KEY, place)
    for column in (_NAME, _OWNER):
        row.setToolTip(column, as_written(str(broken.error)))
    row.setForeground(_OWNER, QColor(ERROR_COLOR))
    row.setFlags(row.flags() & ~Qt.ItemFlag.ItemIsSelectable)
    return row


def _broken_notice(broken: list[BrokenVersion]) -> str:
    lines = [str(version.error) for version in broken[:_BROKEN_SHOWN]]
    if len(broken) > _BROKEN_SHOWN:
        lines.append(f"… and {len(broken) - _BROKEN_SHOWN} more")
    header = f"{count(len(broken), 'version')} cannot be read (marked in the list):"
    return "\n".join([header, *lines])


class DatasetsView(QWidget):
    version_selected = Signal(object)
    """The :class:`DatasetRef` (with its version id) of the one version selected."""
    loaded = Signal(object)
    """The :class:`StoreContents` of each successful load."""
    train_requested = Signal(object)
    """The :class:`Manifest` of the one selected version, which the user wants to train on."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.contents: StoreContents | None = None
        self.trained: dict[str, list[TrainedModel]] = {}
        """The store's model versions by the dataset version they were trained on."""
        self._loading: Operation | None = None
        self._reading: Operation | None = None
        """Reading the models trained on the loaded versions, after a load."""

        self.profile = QComboBox()
        self.profile.setMinimumContentsLength(16)
        self.profile.setToolTip("The storage profile whose datasets are shown")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.hide()
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self._cancel_load)
        self.cancel.hide()
        self.train_button = QPushButton("Train…")
        self.train_button.setToolTip("Set up a YOLO training run on the selected version")
        self.train_button.setEnabled(False)
        self.train_button.clicked.connect(self._request_training)
        self.browse_button = QPushButton("Browse images")
        self.browse_button.setToolTip(
            "See the selected version's images and labels, or the images that changed "
            "between two selected versions"
        )
        self.browse_button.setEnabled(False)
        self.browse_button.clicked.connect(self.browse)
        self.windows: list[QWidget] = []
        """The image windows opened from here and not yet closed."""
        self.status = Notice()
        top = QHBoxLayout()
        top.addWidget(QLabel("Store:"))
        top.addWidget(self.profile)
        top.addWidget(self.refresh_button)
        top.addWidget(self.busy)
        top.addWidget(self.cancel)
        top.addStretch()
        top.addWidget(self.browse_button)
        top.addWidget(self.train_button)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(_NAME, Qt.SortOrder.AscendingOrder)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(_NAME, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(_CLASSES, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemExpanded.connect(self._fit_columns)

        self.hint = QLabel(_HINT)
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.details = VersionDetails()
        self.diff = VersionDiff()
        self.side = QStackedWidget()
        for page in (self.hint, self.details, self.diff):
            self.side.addWidget(page)
        self.pull = PullPanel(workspace.dirs.database)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.pull)

        self.reload_profiles()
        self.profile.currentIndexChanged.connect(self.refresh)

    # -- loading ------------------------------------------------------------------

    def reload_profiles(self) -> None:
        """Offer the profiles of the settings, the default one chosen (after Settings saved)."""
        try:
            settings = self.workspace.settings()
            names = [LOCAL_PROFILE, *(p.name for p in settings.profiles if p.name != LOCAL_PROFILE)]
            default = settings.default_profile
        except DatayardError as error:
            self.status.error(f"{error}\nFix the settings file, or open Settings and save.")
            names, default = [LOCAL_PROFILE], LOCAL_PROFILE
        self.profile.blockSignals(True)
        self.profile.clear()
        for name in names:
            self.profile.addItem(f"{name} (built-in)" if name == LOCAL_PROFILE else name, name)
        self.profile.setCurrentIndex(names.index(default) if default in names else 0)
        self.profile.blockSignals(False)

    def refresh(self) -> Operation:
        """Read the chosen store again; a load still running is abandoned."""
        self._abandon_load()
        name = str(self.profile.currentData())
        self.busy.show()
        self.cancel.show()
        self.status.info(f"Connecting to {name}…")
        operation = run_in_background(lambda token: load_store(self.workspace, name, token), self)
        operation.yielded.connect(lambda event: self._progress(operation, event))
        operation.finished.connect(lambda contents: self._loaded(operation, contents))
        operation.failed.connect(lambda error: self._load_failed(operation, error))
        operation.cancelled.connect(lambda: self._load_cancelled(operation))
        self._loading = operation
        return operation

    def _progress(self, operation: Operation, event: object) -> None:
        if operation is self._loading and isinstance(event, Progress):
            self.status.info(f"{event.phase.capitalize()}…")

    def _loaded(self, operation: Operation, contents: StoreContents) -> None:
        if operation is not self._loading:
            return
        self._load_ended()
        self.contents = contents
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        self.tree.addTopLevelItems([_dataset_row(d) for d in contents.datasets])
        self.tree.setSortingEnabled(True)
        self._fit_columns()
        broken = [version for dataset in contents.datasets for version in dataset.broken]
        if broken:
            self.status.error(_broken_notice(broken))
        elif contents.datasets:
            self.status.clear()
        else:
            self.status.info(
                f"No datasets in bucket {contents.bucket.name!r} yet: "
                "push a folder to create the first one."
            )
        self.trained = {}
        self._selection_changed()
        self.loaded.emit(contents)
        self._reading = call_in_background(lambda: trained_models(contents.bucket), self)
        self._reading.finished.connect(lambda found: self._models_read(contents, found))
        self._reading.failed.connect(
            lambda error: log.warning("could not read the models: %s", error)
        )

    def _models_read(self, contents: StoreContents, found: dict[str, list[TrainedModel]]) -> None:
        self._reading = None
        if contents is self.contents:
            self.trained = found
            self._selection_changed()

    def _load_failed(self, operation: Operation, error: Exception) -> None:
        if operation is not self._loading:
            return
        self._load_ended()
        self.status.error(
            f"Could not read the store: {error}\n"
            "Check the profile in Settings (its Test button names the problem), then Refresh."
        )

    def _load_cancelled(self, operation: Operation) -> None:
        if operation is self._loading:
            self._load_ended()
            self.status.info("Loading cancelled: Refresh to try again.")

    def _cancel_load(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            self.status.info("Cancelling…")

    def _abandon_load(self) -> None:
        for operation in (self._loading, self._reading):
            if operation is not None:
                operation.cancel()
        self._loading = self._reading = None

    def _load_ended(self) -> None:
        self._loading = None
        self.busy.hide()
        self.cancel.hide()

    def _fit_columns(self) -> None:
        """Columns as wide as what they show, version ids of expanded datasets included."""
        for column in (_NAME, _OWNER, _VERSIONS, _FILES, _SIZE, _CREATED):
            self.tree.resizeColumnToContents(column)

    # -- selection ------------------------------------------------------------------

    def selected_versions(self) -> list[Manifest]:
        """The selected versions (a dataset row means its newest), oldest first."""
        return [row.manifest for row in self._selected_rows()]

    def _selected_rows(self) -> list[_Row]:
        chosen = {
            item.manifest.ref: item for item in self.tree.selectedItems() if isinstance(item, _Row)
        }
        rows = sorted(chosen.values(), key=lambda row: (row.manifest.id, row.manifest.ref))
        if len({(row.manifest.owner, row.manifest.name) for row in rows}) == 1:
            rows.sort(key=lambda row: row.number)  # history's order, which ids may not follow
        return rows

    def _selection_changed(self) -> None:
        versions = self.selected_versions()
        contents = self.contents
        self.train_button.setEnabled(len(versions) == 1)
        self.browse_button.setEnabled(len(versions) in (1, 2))
        self.browse_button.setText("Compare images" if len(versions) == 2 else "Browse images")
        if len(versions) == 1 and contents is not None:
            version = versions[0]
            history = next(
                d for d in contents.datasets if (d.owner, d.name) == (version.owner, version.name)
            )
            self.details.show_version(
                version,
                self._selected_rows()[0].number,
                parent=parent_text(version.parent, history.numbers()),
                models=self.trained.get(version.ref, []),
            )
            self.side.setCurrentWidget(self.details)
            self.pull.set_source((contents.bucket, versions[0]))
            self.version_selected.emit(version_ref(versions[0]))
            return
        self.pull.set_source(None)
        if len(versions) == 2:
            self.diff.show_diff(*versions)
            self.side.setCurrentWidget(self.diff)
        else:
            self.hint.setText(_HINT if not versions else "Select one version, or two to compare.")
            self.side.setCurrentWidget(self.hint)

    def browse(self) -> QWidget | None:
        """Open a window on the selected version's images, or on what changed between the
        two selected versions (oldest first); the window, or ``None`` with nothing to show."""
        rows, contents = self._selected_rows(), self.contents
        if contents is None or len(rows) not in (1, 2):
            return None
        dirs = self.workspace.dirs
        window: QWidget
        if len(rows) == 1:
            window = StoredImagesView(rows[0].manifest, rows[0].number, contents.bucket, dirs)
        else:
            old, new = ((row.manifest, row.number) for row in rows)
            window = VersionCompareView(old, new, contents.bucket, dirs)
        # A window of its own that goes with the app's (whose closing stops all work).
        window.setParent(self, Qt.WindowType.Window)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.destroyed.connect(lambda: self.windows.remove(window))
        window.resize(1200, 800)
        window.show()
        self.windows.append(window)
        return window

    def _request_training(self) -> None:
        versions = self.selected_versions()
        if len(versions) == 1:
            self.train_requested.emit(versions[0])
