"""Try a run's or a stored model's weights on images, and see what they find and miss.

The predictions are made once, in a child process (torch stays out of the
app), keeping every detection above a low floor; the threshold slider then
only chooses which of them are drawn and counted, so moving it never waits
for the model. Where the images have labels, each drawn detection is matched
against them at the slider's value: the misses and the false detections are
marked, as the counts of ``datayard predict`` name them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGraphicsItem,
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
from datayard.core.datasets.catalog import Catalog, group_versions
from datayard.core.datasets.manifest import Manifest
from datayard.core.events import CancelToken, Finished, Progress, Transfer
from datayard.core.paths import AppDirs
from datayard.core.store.bucket import Bucket
from datayard.core.training.base_models import BaseModel, resolve_model, store_models
from datayard.core.training.predict import (
    DETECTIONS_FILE,
    Detection,
    PredictionSummary,
    Truth,
    match,
    predict_images,
)
from datayard.core.training.runs import RunFolder
from datayard.core.training.tried_images import pull_tried_images

from ..inspector.viewer import class_colour
from ..notice import Notice
from ..workers import Operation, call_in_background, run_in_background
from .results import ZoomableImage

FLOOR = 0.001
"""The least confidence kept from the model (as Ultralytics' validation keeps); the slider
shows what is above its value."""
STEPS = 1000
"""The slider's steps from 0 to 1: its lowest step is the floor."""
START = 0.25
MISSED = QColor("#f5c211")
FALSE = QColor("#e01b24")
NO_SELECTION = "Select folders or images in the Inspector first."
UNLABELLED = "No labels beside these images: nothing to count the detections against."
Images = list[Path] | Generator[object, None, list[Path]]
"""The images to predict on, or the pull that brings them (its events, then them)."""


@dataclass(frozen=True)
class Predicted:
    """One image's detections and, where it has a label, its labelled objects."""

    image: str
    detections: tuple[Detection, ...]
    truth: tuple[Truth, ...] | None

    @classmethod
    def from_line(cls, line: str) -> Predicted:
        item = json.loads(line)
        labelled = item.get("truth")
        return cls(
            item["image"],
            tuple(
                Detection(d["class_id"], tuple(d["box"]), d["confidence"])
                for d in item["detections"]
            ),
            None
            if labelled is None
            else tuple(Truth(t["class_id"], tuple(t["box"])) for t in labelled),
        )

    def above(self, minimum: float) -> list[Detection]:
        return [d for d in self.detections if d.confidence >= minimum]


@dataclass(frozen=True)
class Counted:
    """What the shown detections add up to against the labels."""

    labelled: int = 0
    objects: int = 0
    found: int = 0
    false: int = 0

    def __add__(self, other: Counted) -> Counted:
        return Counted(
            self.labelled + other.labelled,
            self.objects + other.objects,
            self.found + other.found,
            self.false + other.false,
        )

    @property
    def missed(self) -> int:
        return self.objects - self.found


def counted(predicted: Predicted, minimum: float) -> Counted:
    if predicted.truth is None:
        return Counted()
    shown = predicted.above(minimum)
    found = len(match(shown, predicted.truth).objects)
    return Counted(1, len(predicted.truth), found, len(shown) - found)


class TryIt(QWidget):
    """A run's best weights, or a stored model's, on images the user chooses."""

    def __init__(self, dirs: AppDirs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dirs = dirs
        self.run_weights: Path | None = None
        """The clicked run's best weights, when this computer has them."""
        self.bucket: Bucket | None = None
        self.owner = ""
        self.selection: Callable[[], Sequence[Path]] = lambda: ()
        """The inspector's chosen images (set by the window that has one)."""
        self.root: Path | None = None
        self.names: dict[int, str] = {}
        """The class names of the model that predicted."""
        self.predicted: list[Predicted] = []
        self.boxes: list[str] = []
        """The captions of the boxes drawn on the shown image: ``name 0.87``, ``missed
        name``, ``false name 0.40``."""
        self._scratch = tempfile.TemporaryDirectory(prefix="datayard-try-")
        self._operation: Operation | None = None
        self._listing: Operation | None = None

        self.about = QLabel(
            "Choose a model (a finished run, or one of the store's) and images to try it on."
        )
        self.about.setWordWrap(True)
        self.model = QComboBox()
        self.model.setToolTip("The weights that predict")
        self.choose = QPushButton("Folder…")
        self.choose.setToolTip("Predict on the images of a folder (and the folders in it)")
        self.inspected = QPushButton("Inspector's images")
        self.inspected.setToolTip(
            "Predict on the images selected in the Inspector, or all it shows when none is"
        )
        self.dataset = QComboBox()
        self.dataset.setPlaceholderText("a dataset version of the store")
        self.dataset.setToolTip("A dataset version of the store: its validation images")
        self.validation = QPushButton("Its val images")
        self.validation.setToolTip(
            "Pull the version's val split (images and labels) into the cache and predict on it"
        )
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(round(FLOOR * STEPS), STEPS)
        self.threshold.setValue(round(START * STEPS))
        self.threshold.setToolTip("Boxes less confident than this are not drawn or counted")
        self.threshold_value = QLabel(f"{START:.3f}")
        self.tally = QLabel()
        self.tally.setWordWrap(True)
        self.notice = Notice()
        self.images = QListWidget()
        self.image = ZoomableImage()

        self.choose.clicked.connect(self._ask_folder)
        self.inspected.clicked.connect(self.predict_selection)
        self.validation.clicked.connect(self.predict_validation)
        self.model.currentIndexChanged.connect(lambda _: self._update_buttons())
        self.dataset.currentIndexChanged.connect(lambda _: self._update_buttons())
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.images.currentRowChanged.connect(lambda _: self._draw())
        self._layout()
        self._update_buttons()

    def _layout(self) -> None:
        models = QHBoxLayout()
        models.addWidget(QLabel("Model:"))
        models.addWidget(self.model, 1)
        sources = QHBoxLayout()
        sources.addWidget(QLabel("Images:"))
        sources.addWidget(self.choose)
        sources.addWidget(self.inspected)
        sources.addSpacing(16)
        sources.addWidget(self.dataset, 1)
        sources.addWidget(self.validation)
        threshold = QHBoxLayout()
        threshold.addWidget(QLabel("Confidence at least:"))
        threshold.addWidget(self.threshold, 1)
        threshold.addWidget(self.threshold_value)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.images)
        split.addWidget(self.image)
        split.setStretchFactor(1, 3)
        split.setSizes([340, 760])
        layout = QVBoxLayout(self)
        layout.addWidget(self.about)
        layout.addLayout(models)
        layout.addLayout(sources)
        layout.addLayout(threshold)
        layout.addWidget(self.tally)
        layout.addWidget(self.notice)
        layout.addWidget(split, 1)

    # -- what is offered ---------------------------------------------------------------

    @property
    def minimum(self) -> float:
        return self.threshold.value() / STEPS

    def set_run(self, folder: RunFolder, label: str) -> None:
        """Offer the clicked run's best weights first, when this computer has them."""
        best = folder.weights_dir / "best.pt"
        self.run_weights = best if best.is_file() else None
        if self.model.count() and isinstance(self.model.itemData(0), Path):
            self.model.removeItem(0)
        if self.run_weights is not None:
            self.model.insertItem(0, f"Best weights of {label}", best)
        else:
            self.notice.info(f"{label} has no best weights on this computer to try.")
        self.model.setCurrentIndex(0)
        self._update_buttons()

    def set_store(self, bucket: Bucket, owner: str) -> Operation:
        """List the store's models and dataset versions (in the background)."""
        self.bucket, self.owner = bucket, owner
        if self._listing is not None:
            self._listing.cancel()

        def listing() -> tuple[list[BaseModel], list[tuple[str, Manifest]]]:
            histories = group_versions(Catalog(bucket).stored_versions())
            versions = [
                (f"{h.latest.owner}/{h.latest.name} v{h.number(h.latest)}", h.latest)
                for h in histories
                if h.latest is not None
            ]
            return store_models(bucket), versions

        operation = call_in_background(listing, self)
        operation.finished.connect(lambda found: self._listed(*found))
        operation.failed.connect(lambda error: self.notice.error(f"Cannot list the store: {error}"))
        self._listing = operation
        return operation

    def _listed(self, models: list[BaseModel], versions: list[tuple[str, Manifest]]) -> None:
        self._listing = None
        keep = 1 if self.run_weights is not None else 0
        while self.model.count() > keep:
            self.model.removeItem(keep)
        for model in models:
            self.model.addItem(model.label(), model)
        self.dataset.clear()
        for label, manifest in versions:
            self.dataset.addItem(label, manifest)
        self.dataset.setCurrentIndex(0 if versions else -1)  # a placeholder leaves it at -1
        self._update_buttons()

    def _update_buttons(self) -> None:
        ready = self.model.currentData() is not None
        self.choose.setEnabled(ready)
        self.inspected.setEnabled(ready)
        self.validation.setEnabled(ready and self.dataset.currentData() is not None)

    # -- predicting ----------------------------------------------------------------

    def predict(self, sources: Sequence[Path]) -> Operation:
        """Predict with the chosen model on ``sources`` (files and folders) in the
        background; the list fills when it is done."""
        return self._start(lambda _token: list(sources), _named(sources))

    def predict_validation(self) -> Operation:
        """Pull the chosen dataset version's val split, then predict on it."""
        manifest: Manifest = self.dataset.currentData()
        bucket, cache, database = self.bucket, self.dirs.cache, self.dirs.database
        assert bucket is not None and manifest is not None

        def images(token: CancelToken) -> Generator[object, None, list[Path]]:
            pulled = pull_tried_images(bucket, manifest, cache, database=database, cancel=token)
            for event in pulled:
                if isinstance(event, Finished):
                    return [event.result]
                yield event
            raise AssertionError("a pull ends with its result")

        return self._start(images, self.dataset.currentText())

    def stop(self) -> None:
        for operation in (self._operation, self._listing):
            if operation is not None:
                operation.cancel()

    def _start(self, images: Callable[[CancelToken], Images], what: str) -> Operation:
        if self._operation is not None:
            self._operation.cancel()
        chosen = self.model.currentData()
        assert chosen is not None
        bucket, owner, cache = self.bucket, self.owner, self.dirs.cache
        out = Path(tempfile.mkdtemp(prefix="predicted-", dir=self._scratch.name))
        config = str(cache / "ultralytics")
        options: dict[str, object] = {"conf": FLOOR, "device": "cpu"}

        def run(token: CancelToken) -> Iterator[object]:
            found = images(token)
            sources = found if isinstance(found, list) else (yield from found)
            if isinstance(chosen, Path):
                weights = str(chosen)
            else:
                assert bucket is not None
                yield Progress("fetching the model", 0, 1)
                weights = resolve_model(chosen.model, bucket, cache, owner)
            yield from run_in_child_process(
                predict_images,
                weights,
                [str(s) for s in sources],
                str(out),
                options,
                config,
                cancel=token,
            )

        operation = run_in_background(run, self)
        operation.yielded.connect(self._progress)
        operation.finished.connect(lambda summary: self._predicted(out, summary))
        operation.failed.connect(lambda error: self.notice.error(f"Not predicted: {error}"))
        self._operation = operation
        self.notice.info(f"Predicting with {self.model.currentText()} on {what}…")
        return operation

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Images to predict on")
        if folder:
            self.predict([Path(folder)])

    def predict_selection(self) -> Operation | None:
        """Predict on the inspector's chosen images; ``None`` when it shows none."""
        chosen = list(self.selection())
        if not chosen:
            self.notice.warning(NO_SELECTION)
            return None
        return self.predict(chosen)

    def _progress(self, event: object) -> None:
        if isinstance(event, Transfer) and event.files_total:
            done, total = event.files_done, event.files_total
            self.notice.info(f"Pulling the val images: {done} of {total} files…")
        elif isinstance(event, Progress) and event.total:
            self.notice.info(f"{event.phase.capitalize()}: {event.done} of {event.total}…")

    def _predicted(self, out: Path, summary: PredictionSummary) -> None:
        self._operation = None
        listing = (out / DETECTIONS_FILE).read_text(encoding="utf-8").splitlines()
        self.predicted = [Predicted.from_line(line) for line in listing]
        self.root, self.names = Path(summary.root), summary.names
        self.notice.success(f"{summary.images} images, {summary.per_second:.1f} per second")
        self._list()
        self.images.setCurrentRow(0)

    # -- what is shown -------------------------------------------------------------

    def _threshold_changed(self) -> None:
        self.threshold_value.setText(f"{self.minimum:.3f}")
        self._list()
        self._draw()

    def _list(self) -> None:
        row = self.images.currentRow()
        self.images.blockSignals(True)
        self.images.clear()
        total = Counted()
        for predicted in self.predicted:
            tally = counted(predicted, self.minimum)
            total += tally
            marks = f", {tally.missed} missed, {tally.false} false" if tally.labelled else ""
            shown = len(predicted.above(self.minimum))
            self.images.addItem(f"{predicted.image}: {shown} box{'es' * (shown != 1)}{marks}")
        self.images.setCurrentRow(row)
        self.images.blockSignals(False)
        if total.labelled:
            self.tally.setText(
                f"At {self.minimum:.3f} or more, in the {total.labelled} labelled images: "
                f"{total.found} of {total.objects} objects found, {total.missed} missed, "
                f"{total.false} false detections."
            )
        else:
            self.tally.setText(UNLABELLED if self.predicted else "")

    def _draw(self) -> None:
        row = self.images.currentRow()
        if self.root is None or not 0 <= row < len(self.predicted):
            return
        predicted = self.predicted[row]
        self.image.show_file(self.root / predicted.image)
        pixmap = self.image.pixmap
        assert pixmap is not None
        size = (pixmap.width(), pixmap.height())
        shown = predicted.above(self.minimum)
        matched = match(shown, predicted.truth or ())
        self.boxes = []
        for index, detection in enumerate(shown):
            name = self.names.get(detection.class_id, str(detection.class_id))
            wrong = predicted.truth is not None and index not in matched.detections
            colour = FALSE if wrong else class_colour(detection.class_id)
            caption = f"{'false ' * wrong}{name} {detection.confidence:.2f}"
            self._box(detection.box, size, colour, caption, Qt.PenStyle.SolidLine)
        for index, item in enumerate(predicted.truth or ()):
            if index not in matched.objects:
                name = self.names.get(item.class_id, str(item.class_id))
                self._box(item.box, size, MISSED, f"missed {name}", Qt.PenStyle.DashLine)

    def _box(
        self,
        box: tuple[float, float, float, float],
        size: tuple[int, int],
        colour: QColor,
        caption: str,
        style: Qt.PenStyle,
    ) -> None:
        (x, y, w, h), (width, height) = box, size
        pen = QPen(colour, 2, style)
        pen.setCosmetic(True)
        rect = QRectF((x - w / 2) * width, (y - h / 2) * height, w * width, h * height)
        scene = self.image.scene()
        scene.addRect(rect, pen, QBrush(Qt.BrushStyle.NoBrush))
        text = scene.addSimpleText(caption)
        text.setBrush(colour)
        text.setPos(rect.topLeft())
        text.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)  # readable
        self.boxes.append(caption)


def _named(sources: Sequence[Path]) -> str:
    return str(sources[0]) if len(sources) == 1 else f"{len(sources)} chosen files and folders"
