"""The viewer with a line over it: what the image is, its zoom, and the Fit and 1:1 controls."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from ..rich_text import as_written, plain_label
from .viewer import LabelViewer, Localize, as_is


class ImagePane(QWidget):
    """:attr:`viewer` under its :attr:`info` line; F fits the image, 1 shows its actual pixels.

    The keys act while the pane has the focus (a click on the image gives it),
    so that letters typed in the thumbnail grid still find images by name.
    """

    def __init__(self, parent: QWidget | None = None, *, local: Localize = as_is) -> None:
        """``local`` gives the files of an item to read (see :data:`.viewer.Localize`)."""
        super().__init__(parent)
        self.viewer = LabelViewer(local=local)
        self.info = plain_label()
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long file name is cut, rather than widening the inspector's column.
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.zoom = plain_label()
        self.fit_action = self._action("Fit", "F", "Fit the image to the view")
        self.fit_action.setCheckable(True)
        self.fit_action.triggered.connect(self.viewer.fit)
        self.actual_action = self._action("1:1", "1", "Show the image's actual pixels")
        self.actual_action.triggered.connect(self.viewer.actual_pixels)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.info, 1)
        row.addWidget(self.zoom)
        for action in (self.fit_action, self.actual_action):
            button = QToolButton()
            button.setDefaultAction(action)
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.viewer, 1)

        self.viewer.described.connect(self._on_described)
        self.viewer.zoomed.connect(self._show_zoom)
        self._on_described(self.viewer.info)

    def _action(self, text: str, key: str, tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setToolTip(f"{tip} ({key})")
        self.addAction(action)
        return action

    def _on_described(self, info: str) -> None:
        self.info.setText(info)
        self.info.setToolTip(as_written(info))
        for action in (self.fit_action, self.actual_action):
            action.setEnabled(bool(info))
        self._show_zoom()

    def _show_zoom(self) -> None:
        shown = bool(self.viewer.info)
        self.zoom.setText(f"{self.viewer.zoom:.0%}" if shown else "")
        self.fit_action.setChecked(shown and self.viewer.fitting)
