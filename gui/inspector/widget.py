"""The set inspector: what the selected folders and images hold, and what is wrong with them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from datayard.core.drive.check import Severity
from datayard.core.drive.inspection import InspectedImage, Inspection, inspect
from datayard.core.drive.thumbnails import ThumbnailCache
from datayard.core.events import CancelToken
from datayard.core.store.workspace import Workspace

from ..heap import settle_soon
from ..operation_bar import OperationBar
from ..rich_text import quoted
from ..thumbnails import ThumbnailModel
from ..workers import Operation, release_in_background, run_in_background
from .filters import FilterBox
from .grid import ThumbnailGrid
from .image_pane import ImagePane
from .lazy_chart import LazyChart
from .problems import ProblemTree
from .report_export import ReportExportButton


def _class_histogram() -> QWidget:
    from .charts import ClassHistogram

    return ClassHistogram()


def _size_plot() -> QWidget:
    from .charts import SizePlot

    return SizePlot()


NOTHING_SELECTED = "Select folders or images in the browser to inspect them."
RELEASE_DELAY_MS = 250
"""How long a replaced inspection is kept before a worker frees it."""


class Inspector(QWidget):
    inspected = Signal(object)
    """An inspection finished: its :class:`~datayard.core.drive.inspection.Inspection`
    (the browser's :meth:`add_results` takes the folders' badges from it)."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.inspection: Inspection | None = None
        self._operation: Operation | None = None

        self.summary = QLabel(NOTHING_SELECTED)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.bar = OperationBar()

        thumbnails = ThumbnailCache(workspace.dirs.thumbnails)
        self.thumbnails = ThumbnailModel(thumbnails, self)
        self.grid = ThumbnailGrid(self.thumbnails)
        self.grid.selectionModel().currentChanged.connect(self._on_current)

        self.filter = FilterBox()
        self.filter.picked.connect(self._on_filter)
        self.image_pane = ImagePane()
        self.viewer = self.image_pane.viewer
        self.histogram = LazyChart(_class_histogram)
        self.sizes = LazyChart(_size_plot)
        self.problems = ProblemTree()
        self.problems.file_selected.connect(self.show_file)
        self.tabs = QTabWidget()
        problems = QWidget()
        problems_layout = QVBoxLayout(problems)
        problems_layout.setContentsMargins(0, 0, 0, 0)
        problems_layout.addWidget(self.problems, 1)
        problems_layout.addWidget(self.problems.hint)
        self.export = ReportExportButton(thumbnails)
        problems_layout.addWidget(self.export, 0, Qt.AlignmentFlag.AlignRight)
        self.tabs.addTab(problems, "Problems")
        self.tabs.addTab(self.histogram, "Classes")
        self.tabs.addTab(self.sizes, "Image sizes")

        grid = QWidget()
        grid_layout = QVBoxLayout(grid)
        grid_layout.setContentsMargins(0, 0, 0, 0)
        grid_layout.setSpacing(2)
        grid_layout.addLayout(self.filter.row())
        grid_layout.addWidget(self.grid, 1)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(grid)
        left.addWidget(self.image_pane)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.tabs)
        # Proportions, scaled to the real size when shown.
        left.setSizes([1000, 1000])
        self.splitter.setSizes([1100, 900])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.bar)
        layout.addWidget(self.splitter, 1)

    def inspect(self, paths: Sequence[Path]) -> Operation | None:
        """Show what ``paths`` (folders and/or files) hold; cancels the previous inspection."""
        self.stop()
        self._show(None)
        paths = [Path(path) for path in paths]
        if not paths:
            self.summary.setText(NOTHING_SELECTED)
            return None
        database = self.workspace.dirs.database

        def run(token: CancelToken) -> Iterator[object]:
            return inspect(paths, database=database, cancel=token)

        operation = run_in_background(run, self)
        operation.finished.connect(lambda inspection: self._on_finished(operation, inspection))
        operation.cancelled.connect(lambda: self._on_stopped(operation, "Inspection cancelled."))
        operation.failed.connect(lambda _error: self._on_stopped(operation, "Inspection failed."))
        names = ", ".join(path.name for path in paths[:3]) + (" …" if len(paths) > 3 else "")
        self.summary.setText(f"Inspecting <b>{quoted(names)}</b>…")
        self.bar.track(operation, "Scanning…")
        self._operation = operation
        return operation

    def stop(self) -> None:
        """Cancel the inspection and the thumbnails and image being loaded."""
        if self._operation is not None:
            self._operation.cancel()
        self.thumbnails.stop()
        self.viewer.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)

    def _on_finished(self, operation: Operation, inspection: Inspection) -> None:
        if operation is not self._operation:
            return
        self._operation = None
        self._show(inspection)
        self.inspected.emit(inspection)
        settle_soon(len(inspection.images), self)

    def _on_stopped(self, operation: Operation, text: str) -> None:
        if operation is self._operation:
            self._operation = None
            self.summary.setText(text)

    def _show(self, inspection: Inspection | None) -> None:
        old, self.inspection = self.inspection, inspection
        self.filter.show_filters(inspection)
        self.histogram.call("show_classes", inspection.classes if inspection else ())
        self.sizes.call("show_sizes", inspection.sizes if inspection else ())
        root = _common_root(inspection.paths) if inspection else None
        self.problems.show_problems(inspection.problems if inspection else (), root)
        self.export.show_report(inspection.report if inspection else None)
        found = sum(inspection.counts.values()) if inspection else 0
        self.tabs.setTabText(0, f"Problems ({found:,})" if inspection else "Problems")
        self.viewer.show_message("Select an image to see its labels.")
        self._show_images(inspection.images if inspection else ())
        if inspection is not None:
            self.summary.setText(_describe(inspection))
        if old is not None:  # the last references to 100,000 images and paths go in a worker
            garbage: list[object] = [*old.images, *old.sizes]
            garbage += (row for group in old.problems for row in group.rows)
            garbage += old.report.findings
            del old
            # After the emptied views have painted: the paint's Python callbacks each wait
            # for the GIL, and with the release started at once the window stalled 45-58 ms.
            QTimer.singleShot(RELEASE_DELAY_MS, self, lambda: release_in_background(garbage, self))

    def _show_images(self, images: Sequence[InspectedImage]) -> None:
        """Fill the grid; the image in the viewer stays current if it is among ``images``."""
        shown = self.viewer.current
        self.thumbnails.set_images(images)
        if images:  # current, not selected: a selection is what the user picks
            row = next((row for row, image in enumerate(images) if image is shown), 0)
            self.grid.selectionModel().setCurrentIndex(
                self.thumbnails.index(row), QItemSelectionModel.SelectionFlag.NoUpdate
            )

    def _on_filter(self) -> None:
        picked = self.filter.current
        if self.inspection is None or picked is None:
            return
        images = picked.apply(self.inspection.images)
        self._show_images(images)
        if not images:
            self.viewer.show_message("No image of the inspection passes this filter.")

    def chosen_images(self) -> list[Path]:
        """The images selected in the grid, or all the grid shows when none is."""
        images = self.thumbnails.images
        rows = sorted(index.row() for index in self.grid.selectionModel().selectedIndexes())
        return [images[row].path for row in rows] or [image.path for image in images]

    def show_file(self, path: Path, line: int | None = None) -> None:
        """Select an image in the grid and show it, or the image of a label file.

        ``line`` (1-based) of the image's label is outlined: a finding's line.
        An image the grid's filter hides is shown with the filter reset.
        """
        wanted = Path(path)
        row = self._row_of(wanted)
        if row is None and self.filter.currentIndex() > 0:
            self.filter.setCurrentIndex(0)
            row = self._row_of(wanted)
        if row is not None:
            self.grid.setCurrentIndex(self.thumbnails.index(row))
            self.viewer.show_image(self.thumbnails.images[row], line)

    def _row_of(self, path: Path) -> int | None:
        # A scan on demand: an index of 100,000 paths built with each inspection
        # stalled the UI for a tenth of a second, for a lookup made on a click.
        images = self.thumbnails.images
        return next(
            (row for row, image in enumerate(images) if path in (image.path, image.label)), None
        )

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            image = self.thumbnails.images[current.row()]
            self.grid.scrollTo(current)
            if image is not self.viewer.current:
                self.viewer.show_image(image)


def _common_root(paths: Sequence[Path]) -> Path | None:
    """The folder that holds every selected path: shown paths are relative to it."""
    try:
        return Path(os.path.commonpath([os.path.abspath(path.parent) for path in paths]))
    except ValueError:  # paths on different drives
        return None


def _describe(inspection: Inspection) -> str:
    counts = inspection.counts
    images = len(inspection.images)
    share = f" ({inspection.labelled / images:.0%})" if images else ""
    problems = ", ".join(
        f"{counts[severity]:,} {name}{'s' * (counts[severity] != 1)}"
        for severity, name in (
            (Severity.ERROR, "error"),
            (Severity.WARNING, "warning"),
            (Severity.INFO, "note"),
        )
    )
    classes = len(inspection.classes)
    return (
        f"<b>{images:,}</b> images, <b>{inspection.labelled:,}</b> labelled{share}, "
        f"{classes} class{'es' * (classes != 1)} — {problems}"
    )
