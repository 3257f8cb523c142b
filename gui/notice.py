"""A one-line (or wrapped) message under a form or a view: error, success or progress."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

ERROR_COLOR = "#d0342c"
"""Red that stays readable on light and dark palettes; for marks elsewhere too."""
OK_COLOR = "#2e8b3a"
WARN_COLOR = "#c77c02"


class Notice(QLabel):
    """Hidden while empty; colours stay readable on light and dark palettes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def error(self, text: str) -> None:
        self._show(text, ERROR_COLOR)

    def success(self, text: str) -> None:
        self._show(text, OK_COLOR)

    def warning(self, text: str) -> None:
        self._show(text, WARN_COLOR)

    def info(self, text: str) -> None:
        self._show(text, "")

    def clear(self) -> None:
        super().clear()
        self.hide()

    def _show(self, text: str, color: str) -> None:
        self.setStyleSheet(f"color: {color}" if color else "")
        self.setText(text)
        self.setVisible(bool(text))
