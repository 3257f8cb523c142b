"""Try a run's model on a folder of images, and see what it finds.

The predictions are made once, in a child process (torch stays out of the
app), keeping every detection above a low floor; the threshold slider then
only chooses which of them are drawn, so moving it never waits for the model.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from datayard.core.child_process import run_in_child_process
from datayard.core.events import CancelToken, Progress
from datayard.core.paths import AppDirs
from datayard.core.training.predict import DETECTIONS_FILE, PredictionSummary, predict_images
from datayard.core.training.runs import RunFolder

from ..inspector.viewer import class_colour
from ..notice import Notice
from ..workers import Operation, run_in_background
from .results import ZoomableImage

FLOOR = 0.001
"""The least confidence kept from the model (as Ultralytics' validation keeps); the slider
shows what is above its value."""
STEPS = 1000
"""The slider's steps from 0 to 1: its lowest step is the floor."""
START = 0.25


class TryIt(QWidget):
    """The current run's best weights on images the user chooses."""

    def __init__(self, dirs: AppDirs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dirs = dirs
        self.weights: Path | None = None
        self.source: Path | None = None
        self.predicted: list[tuple[str, list[dict[str, Any]]]] = []
        """(image under the source, its detections) from the last prediction."""
        self.boxes: list[str] = []
        """The captions of the boxes drawn on the shown image: ``name 0.87``."""
        self._scratch = tempfile.TemporaryDirectory(prefix="datayard-try-")
        self._operation: Operation | None = None

        self.about = QLabel("Click a finished run to try its best weights on images.")
        self.about.setWordWrap(True)
        self.choose = QPushButton("Images…")
        self.choose.setToolTip("Predict on the images of a folder (and the folders in it)")
        self.choose.setEnabled(False)
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(round(FLOOR * STEPS), STEPS)
        self.threshold.setValue(round(START * STEPS))
        self.threshold.setToolTip("Boxes less confident than this are not drawn")
        self.threshold_value = QLabel(f"{START:.3f}")
        self.notice = Notice()
        self.images = QListWidget()
        self.image = ZoomableImage()

        self.choose.clicked.connect(self._ask_folder)
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.images.currentRowChanged.connect(lambda _: self._draw())

        top = QHBoxLayout()
        top.addWidget(self.choose)
        top.addSpacing(16)
        top.addWidget(QLabel("Confidence at least:"))
        top.addWidget(self.threshold, 1)
        top.addWidget(self.threshold_value)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.images)
        split.addWidget(self.image)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.about)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addWidget(split, 1)

    @property
    def minimum(self) -> float:
        return self.threshold.value() / STEPS

    def set_run(self, folder: RunFolder, label: str) -> None:
        best = folder.weights_dir / "best.pt"
        self.weights = best if best.is_file() else None
        self.choose.setEnabled(self.weights is not None)
        self.about.setText(
            f"Try the best weights of {label} on a folder of images."
            if self.weights
            else f"{label} has no best weights on this computer to try."
        )

    def predict(self, source: Path) -> Operation:
        """Predict on ``source`` in the background; the list fills when it is done."""
        assert self.weights is not None
        if self._operation is not None:
            self._operation.cancel()
        out = Path(self._scratch.name) / "predicted"
        weights, config = str(self.weights), str(self.dirs.cache / "ultralytics")
        options: dict[str, object] = {"conf": FLOOR, "device": "cpu"}

        def run(token: CancelToken) -> Iterator[object]:
            return run_in_child_process(
                predict_images, weights, str(source), str(out), options, config, cancel=token
            )

        operation = run_in_background(run, self)
        operation.yielded.connect(self._progress)
        operation.finished.connect(lambda summary: self._predicted(source, out, summary))
        operation.failed.connect(lambda error: self.notice.error(f"Not predicted: {error}"))
        self._operation = operation
        self.notice.info(f"Predicting on {source}…")
        return operation

    def stop(self) -> None:
        if self._operation is not None:
            self._operation.cancel()

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Images to predict on")
        if folder:
            self.predict(Path(folder))

    def _progress(self, event: object) -> None:
        if isinstance(event, Progress) and event.total:
            self.notice.info(f"Predicting: {event.done} of {event.total} images…")

    def _predicted(self, source: Path, out: Path, summary: PredictionSummary) -> None:
        self._operation = None
        self.source = source
        lines = (out / DETECTIONS_FILE).read_text(encoding="utf-8").splitlines()
        self.predicted = [(item["image"], item["detections"]) for item in map(json.loads, lines)]
        self.notice.success(
            f"{summary.images} images, {summary.per_second:.1f} per second"
            + (
                f"; of {summary.objects} labelled objects {summary.found} found at {FLOOR} or more"
                if summary.labelled
                else ""
            )
        )
        self._list()
        self.images.setCurrentRow(0)

    def _threshold_changed(self) -> None:
        self.threshold_value.setText(f"{self.minimum:.3f}")
        self._list()
        self._draw()

    def _list(self) -> None:
        row = self.images.currentRow()
        self.images.blockSignals(True)
        self.images.clear()
        for image, detections in self.predicted:
            kept = sum(d["confidence"] >= self.minimum for d in detections)
            self.images.addItem(f"{image}  ({kept})")
        self.images.setCurrentRow(row)
        self.images.blockSignals(False)

    def _draw(self) -> None:
        row = self.images.currentRow()
        if self.source is None or not 0 <= row < len(self.predicted):
            return
        image, detections = self.predicted[row]
        path = self.source / image if self.source.is_dir() else self.source
        self.image.show_file(path)
        scene, pixmap = self.image.scene(), self.image.pixmap
        assert pixmap is not None
        width, height = pixmap.width(), pixmap.height()
        self.boxes = []
        for detection in detections:
            if detection["confidence"] < self.minimum:
                continue
            x, y, w, h = detection["box"]
            colour = class_colour(detection["class_id"])
            pen = QPen(colour, 2)
            pen.setCosmetic(True)
            rect = QRectF((x - w / 2) * width, (y - h / 2) * height, w * width, h * height)
            scene.addRect(rect, pen, QBrush(Qt.BrushStyle.NoBrush))
            caption = f"{detection['class']} {detection['confidence']:.2f}"
            text = scene.addSimpleText(caption)
            text.setBrush(QColor(colour))
            text.setPos(rect.topLeft())
            self.boxes.append(caption)
