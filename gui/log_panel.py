"""The app's log, live: what the core and the workers report, filtered by level.

Records may come from any thread (pushes, pulls, the embedded store); a
:class:`logging.Handler` turns each into a Qt signal, which Qt queues to the
UI thread, so the panel is only ever touched there. Secrets never reach the
logs (the core logs profile names, never keys), so nothing here filters them.
"""

from __future__ import annotations

import logging
from collections import deque

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .rich_text import quoted

LOGGER = "datayard"
MAX_LINES = 5000
LEVELS = (
    ("Debug", logging.DEBUG),
    ("Info", logging.INFO),
    ("Warnings", logging.WARNING),
    ("Errors", logging.ERROR),
)
_COLORS = {logging.WARNING: "#c77c02", logging.ERROR: "#d0342c"}
_FORMAT = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")


class _Bridge(QObject):
    record = Signal(int, str)


class QtLogHandler(logging.Handler):
    """Formats a record in the thread that logged it and sends it to the UI thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(_FORMAT)
        self.bridge = _Bridge()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.record.emit(record.levelno, self.format(record))
        except Exception:
            self.handleError(record)  # logging's rule: a handler never raises


class LogPanel(QWidget):
    """Installs its handler on the ``datayard`` logger for as long as it exists."""

    def __init__(self, parent: QWidget | None = None, max_lines: int = MAX_LINES) -> None:
        super().__init__(parent)
        self._lines: deque[tuple[int, str]] = deque(maxlen=max_lines)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setMaximumBlockCount(max_lines)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.level = QComboBox()
        for label, level in LEVELS:
            self.level.addItem(label, level)
        self.level.setCurrentIndex(1)
        self.level.currentIndexChanged.connect(self._refill)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show:"))
        bar.addWidget(self.level)
        bar.addStretch()
        bar.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.text)

        self.handler = QtLogHandler()
        # Queued even from the UI thread, so records show in the order they were logged.
        self.handler.bridge.record.connect(self._append, Qt.ConnectionType.QueuedConnection)
        logger = logging.getLogger(LOGGER)
        logger.addHandler(self.handler)
        handler = self.handler  # not self: the lambda must outlive the widget
        self.destroyed.connect(lambda: logger.removeHandler(handler))

    @property
    def minimum_level(self) -> int:
        return int(self.level.currentData())

    def clear(self) -> None:
        self._lines.clear()
        self.text.clear()

    def _append(self, level: int, line: str) -> None:
        self._lines.append((level, line))
        if level >= self.minimum_level:
            self.text.appendHtml(_html(level, line))

    def _refill(self) -> None:
        self.text.clear()
        minimum = self.minimum_level
        for level, line in self._lines:
            if level >= minimum:
                self.text.appendHtml(_html(level, line))


def _html(level: int, line: str) -> str:
    color = next((c for at, c in sorted(_COLORS.items(), reverse=True) if level >= at), None)
    escaped = quoted(line).replace("\n", "<br>")
    return f'<span style="color:{color}">{escaped}</span>' if color else escaped
