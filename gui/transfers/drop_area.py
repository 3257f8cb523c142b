"""The zone folders are dropped on to push them, from the tree or the system's file manager."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

_STYLE = """
DropArea { border: 2px dashed palette(mid); border-radius: 8px; }
DropArea[hover="true"] { border-color: palette(highlight); background: palette(alternate-base); }
"""


def local_paths(mime: QMimeData) -> list[Path]:
    """The local files and folders a drag carries; remote URLs cannot be pushed."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def take_paths(event: QDropEvent) -> list[Path]:
    """The local paths a drag or drop carries; the event is accepted if there are any,
    ignored otherwise (a drag of text or web links is left to other widgets)."""
    paths = local_paths(event.mimeData())
    if paths:
        event.acceptProposedAction()
    else:
        event.ignore()
    return paths


class DropArea(QFrame):
    """Emits ``dropped`` with the dropped paths; what to push is decided elsewhere."""

    dropped = Signal(list)
    """``list[Path]``: the local files and folders dropped, in the order dragged."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setStyleSheet(_STYLE)
        self.setProperty("hover", False)
        self.setMinimumWidth(170)
        self.prompt = QLabel("Drop folders here to push")
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prompt.setWordWrap(True)
        font = self.prompt.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.prompt.setFont(font)
        hint = QLabel("from the folder tree or your file manager")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        hint.setEnabled(False)  # the palette's muted text colour, in light and dark themes
        self.choose = QPushButton("Choose a folder…")
        self.choose.clicked.connect(self._choose)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.prompt)
        layout.addWidget(hint)
        layout.addSpacing(6)
        layout.addWidget(self.choose, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)

    def _set_hover(self, hover: bool) -> None:
        self.setProperty("hover", hover)
        self.style().unpolish(self)
        self.style().polish(self)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if take_paths(event):
            self._set_hover(True)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        take_paths(event)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 - Qt override
        self._set_hover(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self._set_hover(False)
        paths = take_paths(event)
        if paths:
            self.dropped.emit(paths)

    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder to push")
        if folder:
            self.dropped.emit([Path(folder)])
