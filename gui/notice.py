"""A one-line (or wrapped) message under a form or a view: error, success or progress."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

ERROR_COLOR = "#d0342c"
"""Red that stays readable on light and dark palettes; for marks elsewhere too."""
OK_COLOR = "#2e8b3a"
WARN_COLOR = "#c77c02"


class Notice(QLabel):
    """Hidden while empty; colours stay readable on light and dark palettes.

    A ``reserved`` notice, under a form's field, always takes one line, empty or not:
    the fields below stay where they are as messages come and go, so a click or a
    keystroke lands where the user aimed. A message longer than the line ends in "…",
    and its tooltip holds it whole.
    """

    def __init__(self, parent: QWidget | None = None, *, reserved: bool = False) -> None:
        super().__init__(parent)
        self._reserved = reserved
        self._message = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if reserved:
            self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            self.setFixedHeight(self.fontMetrics().lineSpacing())
        else:
            self.setWordWrap(True)
            self.hide()

    def text(self) -> str:
        """The message, whole (a reserved notice may show it cut to its line)."""
        return self._message

    def error(self, text: str) -> None:
        self._show(text, ERROR_COLOR)

    def success(self, text: str) -> None:
        self._show(text, OK_COLOR)

    def warning(self, text: str) -> None:
        self._show(text, WARN_COLOR)

    def info(self, text: str) -> None:
        self._show(text, "")

    def clear(self) -> None:
        self._show("", "")

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._reserved:
            self._fit()

    def _show(self, text: str, color: str) -> None:
        self._message = text
        self.setStyleSheet(f"color: {color}" if color else "")
        if self._reserved:
            self.setToolTip(text)
            self._fit()
        else:
            self.setText(text)
            self.setVisible(bool(text))

    def _fit(self) -> None:
        line = self._message.replace("\n", " ")
        metrics = self.fontMetrics()
        self.setText(metrics.elidedText(line, Qt.TextElideMode.ElideRight, self.width()))
