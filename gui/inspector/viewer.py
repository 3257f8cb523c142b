"""One image with its label drawn over it: boxes and polygons, each with its class name.

The image is decoded and the label read in a worker; a click on another image
cancels the previous load, so scrolling through a set never queues decodes.
Images are decoded as the check and the thumbnails decode them
(:mod:`datayard.core.drive.decoding`): HEIC too, upright as training sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from datayard.core.drive.decoding import UndecodableImageError, decode
from datayard.core.drive.inspection import InspectedImage
from datayard.core.drive.labels import LabelObject, load_label
from datayard.core.drive.scan.summary import class_name
from datayard.core.events import CancelToken, Finished

from ..operation_bar import describe_error
from ..workers import Operation, run_in_background

MAX_SIDE = 4096
"""Pixels on the longer side, at most: the viewer fits the image in its window, so
more than a large screen shows would only cost memory and decoding time."""
_PALETTE = ("#e53935", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#fdd835")


def class_colour(class_id: int) -> QColor:
    return QColor(_PALETTE[class_id % len(_PALETTE)])


@dataclass(frozen=True)
class _Loaded:
    image: QImage
    shapes: tuple[LabelObject, ...]
    problem: str | None


def _load(item: InspectedImage) -> _Loaded:
    image = QImage()
    problem: str | None = None
    try:
        image = _qimage(decode(item.path, MAX_SIDE))
    except UndecodableImageError as error:
        problem = f"This image cannot be shown: {error}."
    shapes: tuple[LabelObject, ...] = ()
    if item.label is not None:
        try:
            shapes = load_label(item.label).objects
        except OSError as error:
            problem = f"The label file cannot be read: {describe_error(error)}"
    return _Loaded(image, shapes, problem)


def _qimage(picture: Image.Image) -> QImage:
    """The RGB picture as a QImage that owns its pixels (a worker may make a QImage)."""
    width, height = picture.size
    data = picture.tobytes()
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class LabelViewer(QGraphicsView):
    """Shows an :class:`InspectedImage` with its label; ``shapes`` lists what is drawn."""

    drawn = Signal(object)
    """The image (an :class:`InspectedImage`) and its shapes are on screen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor("#2b2b2b"))
        self.shapes: list[QGraphicsPolygonItem] = []
        self.names: list[str] = []
        """The class name drawn beside each shape, in the same order."""
        self.current: InspectedImage | None = None
        self._operation: Operation | None = None
        self.show_message("Select an image to see its labels.")

    def show_image(self, item: InspectedImage) -> Operation:
        if self._operation is not None:
            self._operation.cancel()
        self.current = item

        def run(_token: CancelToken) -> Iterator[object]:
            yield Finished(_load(item))

        operation = run_in_background(run, self)
        operation.finished.connect(lambda loaded: self._draw(item, loaded))
        operation.failed.connect(lambda error: self.show_message(describe_error(error)))
        self._operation = operation
        return operation

    def stop(self) -> None:
        if self._operation is not None:
            self._operation.cancel()

    def show_message(self, text: str) -> None:
        self._clear()
        message = self.scene().addSimpleText(text)
        message.setBrush(QColor("#dddddd"))
        self.setSceneRect(message.boundingRect())

    def _clear(self) -> None:
        self.scene().clear()
        self.shapes.clear()
        self.names.clear()

    def _draw(self, item: InspectedImage, loaded: _Loaded) -> None:
        if item is not self.current:
            return
        if loaded.image.isNull():
            self.show_message(loaded.problem or "This image cannot be shown.")
            return
        self._clear()
        scene = self.scene()
        scene.addPixmap(QPixmap.fromImage(loaded.image))
        width, height = loaded.image.width(), loaded.image.height()
        for shape in loaded.shapes:
            colour = class_colour(shape.class_id)
            pen = QPen(colour, 2)
            pen.setCosmetic(True)  # two screen pixels whatever the zoom
            polygon = QPolygonF([QPointF(x * width, y * height) for x, y in shape.points])
            drawn = scene.addPolygon(polygon, pen, QBrush(Qt.BrushStyle.NoBrush))
            name = class_name(item.class_names, shape.class_id)
            corner = polygon.boundingRect().topLeft()
            self._caption(name, colour, corner, above=corner.y() > height * 0.05)
            self.shapes.append(drawn)
            self.names.append(name)
        if loaded.problem:
            self._caption(loaded.problem, QColor("#c62828"), QPointF(0, 0), above=False)
        self.setSceneRect(0, 0, width, height)
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.drawn.emit(item)

    def _caption(self, text: str, colour: QColor, at: QPointF, *, above: bool) -> None:
        """A class name on a patch of its colour, the same size on screen at any zoom."""
        caption = QGraphicsSimpleTextItem(text)
        caption.setBrush(QColor("white"))
        box = caption.boundingRect().adjusted(-3, 0, 3, 0)
        background = self.scene().addRect(box, QPen(Qt.PenStyle.NoPen), QBrush(colour))
        background.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        background.setPos(at)
        caption.setParentItem(background)
        if above:
            background.setRect(box.translated(0, -box.height()))
            caption.setPos(0, -box.height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.shapes or self.current is not None:
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
