"""A grid model of image thumbnails, made in worker threads and only for what is on screen.

The view asks for an item's picture only when it paints it, so a request is
the proof that the item is visible. Requests are gathered for a moment and
sent as one batch; a newer batch cancels an older one whose items scrolled
away. Thumbnails come from a :class:`ThumbnailSource`: the files of the share's
:class:`~datayard.core.drive.thumbnails.ThumbnailCache`, or a stored version's
(:class:`~datayard.core.datasets.stored_images.StoredThumbnails`), both on disk,
so a second visit decodes nothing; a few hundred stay in memory.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap

from datayard.core.drive.inspection import InspectedImage
from datayard.core.drive.thumbnails import THUMBNAIL_PX, Thumbnail
from datayard.core.events import CancelToken

from .rich_text import as_written
from .workers import Operation, run_in_background

BATCH = 48
"""At most this many thumbnails per batch: about two screens of a grid."""
KEPT_IN_MEMORY = 600
REQUEST_DELAY_MS = 30

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
ERROR_ROLE = Qt.ItemDataRole.UserRole + 2

AnyIndex = QModelIndex | QPersistentModelIndex


class ThumbnailSource(Protocol):
    def get_all(
        self, sources: Sequence[Path], *, cancel: CancelToken | None = None
    ) -> Iterator[Thumbnail]:
        """The thumbnails of the images at ``sources`` (the items' paths), in their order."""
        ...


@dataclass(frozen=True)
class Loaded:
    """A thumbnail and its picture, decoded in the worker (QImage is safe off the UI thread)."""

    row: int
    thumbnail: Thumbnail
    image: QImage | None


def placeholder(text: str, *, broken: bool) -> QPixmap:
    """A square that says what is going on; red-crossed for an image that cannot be shown."""
    pixmap = QPixmap(THUMBNAIL_PX, THUMBNAIL_PX)
    pixmap.fill(QColor("#eeeeee") if not broken else QColor("#fde7e7"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    frame = QRect(8, 8, THUMBNAIL_PX - 16, THUMBNAIL_PX - 16)
    if broken:
        painter.setPen(QPen(QColor("#c62828"), 4))
        painter.drawLine(frame.topLeft(), frame.bottomRight())
        painter.drawLine(frame.topRight(), frame.bottomLeft())
    painter.setPen(QColor("#333333") if broken else QColor("#888888"))
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    painter.end()
    return pixmap


class ThumbnailModel(QAbstractListModel):
    """Images of an inspection; DecorationRole is a thumbnail, a loading square, or "broken"."""

    thumbnails_loaded = Signal()
    """A batch ended: what was on screen is drawn."""

    def __init__(self, cache: ThumbnailSource, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = cache
        self.images: Sequence[InspectedImage] = ()
        self.stats: Counter[str] = Counter()
        """``made``, ``cached`` and ``broken`` thumbnails so far: how much decoding happened."""
        self._pictures: OrderedDict[int, QPixmap] = OrderedDict()
        self._errors: dict[int, str] = {}
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._in_flight: set[int] = set()
        self._unserved: set[int] = set()
        """Requested but not delivered: asked again if the view paints them again."""
        self._operation: Operation | None = None
        self._loading = placeholder("loading…", broken=False)
        self._broken = placeholder("cannot be shown", broken=True)
        self._timer = QTimer(self, singleShot=True, interval=REQUEST_DELAY_MS)
        self._timer.timeout.connect(self._request)

    def set_images(self, images: Sequence[InspectedImage]) -> None:
        self.stop()
        self.beginResetModel()
        self.images = images
        self._pictures.clear()
        self._errors.clear()
        self._wanted.clear()
        self._in_flight.clear()
        self._unserved.clear()
        self.endResetModel()

    def stop(self) -> None:
        self._timer.stop()
        if self._operation is not None:
            self._operation.cancel()

    def shown(self, row: int) -> bool:
        """Does the row show its thumbnail, or its "cannot be shown" placeholder?"""
        return row in self._pictures or row in self._errors

    @property
    def busy(self) -> bool:
        return self._operation is not None or bool(self._wanted)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.images)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        row = index.row()
        if not index.isValid() or row >= len(self.images):
            return None
        image = self.images[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return image.path.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._picture(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            error = self._errors.get(row)
            return as_written(f"{image.path}\n{error}" if error else str(image.path))
        if role == PATH_ROLE:
            return image.path
        if role == ERROR_ROLE:
            return self._errors.get(row)
        return None

    def _picture(self, row: int) -> QPixmap:
        if row in self._errors:
            return self._broken
        picture = self._pictures.get(row)
        if picture is not None:
            self._pictures.move_to_end(row)
            return picture
        if row not in self._in_flight:
            self._wanted[row] = None
            self._wanted.move_to_end(row)
            self._timer.start()
        return self._loading

    def _request(self) -> None:
        """Send the latest requests (the items now on screen) as one batch."""
        if self._operation is not None:
            self._operation.cancel()  # its ``ended`` sends the next batch
            return
        rows = list(self._wanted)[-BATCH:]
        self._unserved.update(self._wanted)
        self._unserved.difference_update(rows)
        self._wanted.clear()
        if not rows:
            return
        self._in_flight = set(rows)
        cache = self.cache
        paths = [self.images[row].path for row in rows]

        def run(token: CancelToken) -> Iterator[object]:
            for row, thumbnail in zip(rows, cache.get_all(paths, cancel=token), strict=False):
                image = QImage(str(thumbnail.file)) if thumbnail.file else None
                yield Loaded(row, thumbnail, image if image and not image.isNull() else None)

        operation = run_in_background(run, self)
        operation.yielded.connect(self._on_loaded)
        operation.ended.connect(lambda: self._on_batch_ended(operation))
        self._operation = operation

    def _on_loaded(self, loaded: object) -> None:
        if not isinstance(loaded, Loaded) or loaded.row >= len(self.images):
            return
        thumbnail = loaded.thumbnail
        if self.images[loaded.row].path != thumbnail.source:
            return  # a batch of images shown before
        self.stats["cached" if thumbnail.cached else "made"] += 1
        if loaded.image is None:
            self.stats["broken"] += 1
            self._errors[loaded.row] = thumbnail.error or "the thumbnail cannot be read"
        else:
            self._pictures[loaded.row] = QPixmap.fromImage(loaded.image)
            while len(self._pictures) > KEPT_IN_MEMORY:
                self._pictures.popitem(last=False)
        self._in_flight.discard(loaded.row)
        index = self.index(loaded.row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _on_batch_ended(self, operation: Operation) -> None:
        operation.deleteLater()  # one per batch: scrolling through a big set makes thousands
        if self._operation is not operation:
            return
        self._operation = None
        self._unserved |= self._in_flight
        self._in_flight.clear()
        if self._unserved:
            # The view repaints (and so asks again for) only those still on screen.
            first, last = self.index(min(self._unserved)), self.index(max(self._unserved))
            self._unserved.clear()
            self.dataChanged.emit(first, last, [Qt.ItemDataRole.DecorationRole])
        if self._wanted:
            self._timer.start()
        else:
            self.thumbnails_loaded.emit()

    def cell_size(self) -> QSize:
        return QSize(THUMBNAIL_PX + 16, THUMBNAIL_PX + 28)
