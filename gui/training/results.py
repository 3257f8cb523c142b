"""What a finished run learned: its final validation per class, and Ultralytics' plots.

Ultralytics leaves its plots in the run's folder (with plots on): the
confusion matrix, the precision-recall and F1 curves, and validation images
with the predictions beside the ground truth. They are shown as they are,
zoomable, with the per-class table of the final validation above them. With
two runs or more selected, their hyperparameters come first, side by side,
the ones that differ marked: what changed between two runs is what a
comparison of their curves is about.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from datayard.core.training.protocol import Final
from datayard.core.training.runs import RunFolder
from datayard.core.training.spec import TrainSpec, side_by_side
from datayard.core.units import metric

from ..rich_text import plain_label

PLOTS = {
    "confusion_matrix_normalized.png": "Confusion matrix (normalized)",
    "confusion_matrix.png": "Confusion matrix (counts)",
    "BoxPR_curve.png": "Precision-recall curve",
    "BoxF1_curve.png": "F1 curve",
    "BoxP_curve.png": "Precision curve",
    "BoxR_curve.png": "Recall curve",
    "val_batch0_pred.jpg": "Validation images: predictions",
    "val_batch0_labels.jpg": "Validation images: ground truth",
    "results.png": "Training curves (Ultralytics)",
}
"""Ultralytics' plots by file name, in the order people look at them; others follow by name."""
ZOOM_STEP = 1.25
DIFFERENT = QColor(255, 236, 179)
"""The background of a hyperparameter that is not the same in every compared run."""


def result_images(folder: RunFolder) -> list[tuple[str, Path]]:
    """(title, path) of the plots and pictures in the run's folder, known ones first."""
    if not folder.train_dir.is_dir():
        return []
    found = {
        path.name: path
        for path in folder.train_dir.iterdir()
        if path.suffix.lower() in (".png", ".jpg") and path.is_file()
    }
    known = [(title, found.pop(name)) for name, title in PLOTS.items() if name in found]
    return known + [(path.stem.replace("_", " "), path) for _, path in sorted(found.items())]


class ZoomableImage(QGraphicsView):
    """One picture, fitted at first; the wheel zooms in and out, dragging pans."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.pixmap: QPixmap | None = None

    def show_file(self, path: Path) -> None:
        self.scene().clear()
        self.pixmap = QPixmap(str(path))
        self.scene().addItem(QGraphicsPixmapItem(self.pixmap))
        self.scene().setSceneRect(self.pixmap.rect().toRectF())
        self.fit()

    def fit(self) -> None:
        self.resetTransform()
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self.scale(factor, factor)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom(ZOOM_STEP**steps)
        event.accept()


class RunResults(QWidget):
    """The results of the run chosen in the Training tab."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = plain_label()
        self.heading.setWordWrap(True)
        self.classes = QTableWidget(0, 0)
        self.classes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.classes.verticalHeader().hide()
        self.classes.setMaximumHeight(180)
        self.comparison = QTableWidget(0, 0)
        self.comparison.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.comparison.hide()
        self.images = QComboBox()
        self.image = ZoomableImage()
        self.missing = plain_label()
        self.missing.setWordWrap(True)
        self._paths: list[Path] = []
        self.images.currentIndexChanged.connect(self._image_chosen)

        choose = QHBoxLayout()
        choose.addWidget(QLabel("Plot:"))
        choose.addWidget(self.images, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.comparison)
        layout.addWidget(self.heading)
        layout.addWidget(self.classes)
        layout.addLayout(choose)
        layout.addWidget(self.missing)
        layout.addWidget(self.image, 1)

    def show_run(self, folder: RunFolder, label: str, events: list[object]) -> None:
        """Show ``folder``'s results (``events``: its events, read already)."""
        final = next((e for e in reversed(events) if isinstance(e, Final)), None)
        if final is None:
            self.heading.setText(f"{label} has no final validation yet: it shows when it ends.")
        else:
            overall = ", ".join(f"{k} {v:.3f}" for k, v in sorted(final.metrics.items()))
            self.heading.setText(f"Final validation of {label}'s best weights: {overall}")
        self._fill_classes(final.classes if final else {})
        images = result_images(folder)
        self._paths = [path for _, path in images]
        self.images.blockSignals(True)
        self.images.clear()
        self.images.addItems([title for title, _ in images])
        self.images.blockSignals(False)
        self.missing.setText(
            ""
            if images
            else "No plots in this run's folder: they are made when Plots is on, on the "
            "machine that trains (`datayard fetch RUN DIR` brings a remote run's files here)."
        )
        self.image.setVisible(bool(images))
        if images:
            self._image_chosen(0)

    def compare(self, labels: list[str], specs: list[TrainSpec]) -> None:
        """Show the specs' hyperparameters side by side (none: hide them); the rows that
        differ are marked and listed first."""
        self.comparison.setVisible(len(specs) > 1)
        if len(specs) < 2:
            return
        settings = sorted(side_by_side(specs), key=lambda setting: not setting.differs)
        self.comparison.clear()
        self.comparison.setColumnCount(len(labels))
        self.comparison.setHorizontalHeaderLabels(labels)
        self.comparison.setRowCount(len(settings))
        self.comparison.setVerticalHeaderLabels([setting.name for setting in settings])
        bold = QFont()
        bold.setBold(True)
        for row, setting in enumerate(settings):
            for column, value in enumerate(setting.values):
                cell = QTableWidgetItem(value)
                if setting.differs:
                    cell.setBackground(QBrush(DIFFERENT))
                    cell.setFont(bold)
                self.comparison.setItem(row, column, cell)
        differing = sum(setting.differs for setting in settings)
        self.comparison.setToolTip(f"{differing} setting(s) differ, marked and listed first")
        self.comparison.resizeColumnsToContents()

    def _fill_classes(self, classes: dict[str, dict[str, float]]) -> None:
        columns = list(dict.fromkeys(key for row in classes.values() for key in row))
        self.classes.clear()
        self.classes.setColumnCount(len(columns) + 1)
        self.classes.setHorizontalHeaderLabels(["Class", *columns])
        self.classes.setRowCount(len(classes))
        for row, (name, values) in enumerate(classes.items()):
            self.classes.setItem(row, 0, QTableWidgetItem(name))
            for column, key in enumerate(columns, 1):
                value = values.get(key)
                text = "" if value is None else metric(value)
                self.classes.setItem(row, column, QTableWidgetItem(text))
        self.classes.setVisible(bool(classes))
        self.classes.resizeColumnsToContents()

    def _image_chosen(self, index: int) -> None:
        if 0 <= index < len(self._paths):
            self.image.show_file(self._paths[index])
