"""One image with its label drawn over it: boxes and polygons, each with its class name.

The image is decoded and the label read in a worker; a click on another image
cancels the previous load, so scrolling through a set never queues decodes.
Images are decoded as the check and the thumbnails decode them
(:mod:`datayard.core.drive.decoding`): HEIC too, upright as training sees them.

The scene's unit is a pixel of the image file, even when a smaller copy is
shown: a scale of 1 is the image's actual pixels. The view fits the image
until the user zooms (the wheel, around the cursor) or asks for actual pixels;
it then keeps that zoom from image to image, to compare the same detail.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from datayard.core.drive.decoding import UndecodableImageError, decode_sized
from datayard.core.drive.inspection import InspectedImage
from datayard.core.drive.labels import LabelObject, load_label
from datayard.core.drive.scan.summary import class_name
from datayard.core.events import CancelToken, Finished

from ..operation_bar import describe_error
from ..workers import Operation, run_in_background
from .tags import place_tags

MAX_SIDE = 4096
"""Pixels on the longer side, at most: the viewer fits the image in its window, so
more than a large screen shows would only cost memory and decoding time."""
MIN_ZOOM, MAX_ZOOM = 0.02, 50.0
"""Screen pixels per image pixel, at least and at most."""
MESSAGE_WIDTH = 70
"""Characters per line of a message shown instead of an image (a store's error is long)."""
ZOOM_PER_NOTCH = 1.2
NOTCH = 120
"""Eighths of a degree in a notch of a mouse wheel (touchpads send fractions of one)."""
_PALETTE = ("#e53935", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#fdd835")


def class_colour(class_id: int) -> QColor:
    return QColor(_PALETTE[class_id % len(_PALETTE)])


@dataclass(frozen=True)
class _Loaded:
    image: QImage
    size: tuple[int, int]
    """The image file's width and height, upright (``image`` may be a smaller copy)."""
    shapes: tuple[LabelObject, ...]
    problem: str | None


def _load(item: InspectedImage) -> _Loaded:
    image = QImage()
    size = (0, 0)
    problem: str | None = None
    try:
        decoded, size = decode_sized(item.path, MAX_SIDE)
        image = _qimage(decoded)
    except UndecodableImageError as error:
        problem = f"This image cannot be shown: {error}."
    shapes: tuple[LabelObject, ...] = ()
    if item.label is not None:
        try:
            shapes = load_label(item.label).objects
        except OSError as error:
            problem = f"The label file cannot be read: {describe_error(error)}"
    return _Loaded(image, size, shapes, problem)


def as_is(item: InspectedImage, _cancel: CancelToken) -> InspectedImage:
    """An image of the share: its files are the ones to read."""
    return item


Localize = Callable[[InspectedImage, CancelToken], InspectedImage]
"""The item with the local files to read (run in the worker): a stored version's fetches them."""


def _qimage(picture: Image.Image) -> QImage:
    """The RGB picture as a QImage that owns its pixels (a worker may make a QImage)."""
    width, height = picture.size
    data = picture.tobytes()
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def describe(item: InspectedImage, size: tuple[int, int], objects: int) -> str:
    """The line over the image: what a user checks before looking at the boxes."""
    width, height = size
    parts = [item.path.name, f"{width} × {height} px", item.split]
    parts.append(f"{objects} label{'s' * (objects != 1)}" if item.label else "no label file")
    return "  ·  ".join(part for part in parts if part)


def _pen(colour: QColor, width: int = 2, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)  # screen pixels whatever the zoom
    return pen


class LabelViewer(QGraphicsView):
    """Shows an :class:`InspectedImage` with its label; ``shapes`` lists what is drawn."""

    drawn = Signal(object)
    """The image (an :class:`InspectedImage`) and its shapes are on screen."""
    described = Signal(str)
    """The line about what is shown (:func:`describe`), empty when no image is."""
    zoomed = Signal()
    """The zoom changed, or whether the view fits the image."""

    def __init__(self, parent: QWidget | None = None, *, local: Localize = as_is) -> None:
        super().__init__(parent)
        self.local = local
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor("#2b2b2b"))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.shapes: list[QGraphicsPolygonItem] = []
        self.names: list[str] = []
        """The class name drawn beside each shape, in the same order."""
        self.lines: list[int] = []
        """The label line (1-based) each shape is written on, in the same order."""
        self.tags: list[QGraphicsRectItem] = []
        """The class-name tag of each shape, in the same order."""
        self.highlighted: QGraphicsPolygonItem | None = None
        self.info = ""
        """:func:`describe`'s line for the image shown; empty while none is."""
        self.message = ""
        """The text shown instead of an image; empty while one is shown."""
        self.fitting = True
        """The image is fitted to the view, again when the view is resized."""
        self.current: InspectedImage | None = None
        self._line: int | None = None
        self._anchored: list[tuple[QGraphicsRectItem, QPointF]] = []
        """Every tag, a notice first, with the scene point it hangs from."""
        self._operation: Operation | None = None
        self.show_message("Select an image to see its labels.")

    def show_image(self, item: InspectedImage, line: int | None = None) -> Operation | None:
        """Load and show ``item``, outlining the object on ``line`` of its label.

        For the image already shown (or on its way), only the outline moves.
        """
        if item is self.current:
            self.highlight(line)
            return None
        if self._operation is not None:
            self._operation.cancel()
        self.current, self._line = item, line

        def run(token: CancelToken) -> Iterator[object]:
            yield Finished(_load(self.local(item, token)))

        operation = run_in_background(run, self)
        operation.finished.connect(lambda loaded: self._draw(item, loaded))
        operation.failed.connect(lambda error: self._failed(item, error))
        self._operation = operation
        return operation

    def _failed(self, item: InspectedImage, error: Exception) -> None:
        if item is self.current:  # a slow fetch of an image clicked before says nothing
            self.show_message(describe_error(error))

    def stop(self) -> None:
        if self._operation is not None:
            self._operation.cancel()

    def show_message(self, text: str) -> None:
        """``text`` instead of an image: showing an image again loads it again."""
        self.current = None
        self._clear()
        self.message = text
        message = self.scene().addSimpleText(textwrap.fill(text, MESSAGE_WIDTH))
        message.setBrush(QColor("#dddddd"))
        self.setSceneRect(message.boundingRect())
        self.setTransform(QTransform())
        self.info = ""
        self.described.emit("")

    @property
    def zoom(self) -> float:
        """Screen pixels per pixel of the image file."""
        return self.transform().m11()

    def fit(self) -> None:
        """Show the whole image, and keep doing so when the view is resized."""
        self.fitting = True
        self._fit()
        self.zoomed.emit()

    def actual_pixels(self) -> None:
        """One screen pixel per image pixel, around the centre of the view."""
        self._zoom_to(1.0, self.viewport().rect().center())

    def zoom_by(self, factor: float, at: QPoint) -> None:
        """Zoom keeping the image point under ``at`` (viewport pixels) where it is."""
        self._zoom_to(self.zoom * factor, at)

    def highlight(self, line: int | None) -> None:
        """Outline the object written on ``line`` of the label in thick dashes (``None``: none).

        A line that describes no object (a malformed one) outlines nothing.
        """
        self._line = line
        if self.highlighted is not None:
            self.highlighted.setPen(_pen(self.highlighted.pen().color()))
            self.highlighted.setZValue(0)
            self.highlighted = None
        if line is None or line not in self.lines:
            return
        shape = self.shapes[self.lines.index(line)]
        shape.setPen(_pen(shape.pen().color(), 5, Qt.PenStyle.DashLine))
        shape.setZValue(1)
        self.highlighted = shape
        if not self.fitting:
            self.ensureVisible(shape)

    def _clear(self) -> None:
        self.scene().clear()
        self.shapes.clear()
        self.names.clear()
        self.lines.clear()
        self.tags.clear()
        self._anchored.clear()
        self.highlighted = None

    def _draw(self, item: InspectedImage, loaded: _Loaded) -> None:
        if item is not self.current:
            return
        if loaded.image.isNull():
            self.show_message(loaded.problem or "This image cannot be shown.")
            return
        self._clear()
        self.message = ""
        scene = self.scene()
        width, height = loaded.size
        picture = QGraphicsPixmapItem(QPixmap.fromImage(loaded.image))
        picture.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        picture.setScale(width / loaded.image.width())
        scene.addItem(picture)
        if loaded.problem:
            self._anchored.append((self._tag(loaded.problem, QColor("#c62828")), QPointF(0, 0)))
        for shape in loaded.shapes:
            colour = class_colour(shape.class_id)
            polygon = QPolygonF([QPointF(x * width, y * height) for x, y in shape.points])
            drawn = scene.addPolygon(polygon, _pen(colour), QBrush(Qt.BrushStyle.NoBrush))
            name = class_name(item.class_names, shape.class_id)
            tag = self._tag(name, colour)
            self._anchored.append((tag, polygon.boundingRect().topLeft()))
            self.shapes.append(drawn)
            self.names.append(name)
            self.lines.append(shape.line)
            self.tags.append(tag)
        self.setSceneRect(0, 0, width, height)
        if self.fitting:
            self._fit()
        else:
            self._place_tags()
        self.highlight(self._line)
        self.info = describe(item, loaded.size, len(loaded.shapes))
        self.described.emit(self.info)
        self.drawn.emit(item)

    def _tag(self, text: str, colour: QColor) -> QGraphicsRectItem:
        """A name on a patch of its colour, the same size on screen at any zoom."""
        caption = QGraphicsSimpleTextItem(text)
        caption.setBrush(QColor("white"))
        caption.setPos(3, 0)
        box = caption.boundingRect().adjusted(0, 0, 6, 0)
        tag = self.scene().addRect(box, QPen(Qt.PenStyle.NoPen), QBrush(colour))
        tag.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        tag.setZValue(2)
        caption.setParentItem(tag)
        return tag

    def _place_tags(self) -> None:
        """Lay the tags out again for the zoom: their size on screen does not change with it."""
        zoom = self.zoom
        corners = [corner * zoom for _, corner in self._anchored]
        sizes = [QSizeF(tag.rect().size()) for tag, _ in self._anchored]
        for (tag, _), rect in zip(self._anchored, place_tags(corners, sizes, 0), strict=True):
            tag.setPos(rect.topLeft() / zoom)

    def _fit(self) -> None:
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._place_tags()

    def _zoom_to(self, zoom: float, at: QPoint) -> None:
        if not self.info:
            return  # a message, not an image
        before = self.mapToScene(at)
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        self.fitting = False
        self.setTransform(QTransform.fromScale(zoom, zoom))
        moved = self.mapFromScene(before) - at  # scrolled back under ``at``
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self._place_tags()
        self.zoomed.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        steps = event.angleDelta().y()
        if steps:
            self.zoom_by(ZOOM_PER_NOTCH ** (steps / NOTCH), event.position().toPoint())
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.fitting and self.info:
            self._fit()
            self.zoomed.emit()
