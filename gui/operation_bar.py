"""A slim bar that shows what a background operation is doing, with a Cancel button.

Shared by the browser and the inspector: a progress bar with the phase and
counts, a Cancel button while something runs, and the last error as a readable
sentence with what to do next.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from datayard.core.errors import DatayardError
from datayard.core.events import Progress

from .rich_text import plain_label
from .workers import Operation


def describe_error(error: Exception) -> str:
    """A sentence for the user: ours already are; OS errors get their path and a next step."""
    if isinstance(error, DatayardError):
        return str(error)
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        reason = error.strerror or str(error)
        return f"{reason}{where}. Check that the folder is reachable and readable, then retry."
    return f"Something unexpected went wrong ({error}). The log has the details."


class OperationBar(QWidget):
    """Hidden while idle; shows progress and Cancel while an operation runs, errors after."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._operation: Operation | None = None
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.message = plain_label()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.progress, 1)
        layout.addWidget(self.cancel_button)
        layout.addWidget(self.message, 1)
        self._show(running=False, message="")

    @property
    def running(self) -> bool:
        return self._operation is not None

    def track(self, operation: Operation, text: str) -> None:
        """Follow ``operation`` until it ends; its Progress events move the bar."""
        self._operation = operation
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self._show(running=True, message="")
        operation.yielded.connect(self._on_event)
        operation.failed.connect(self.show_error)
        operation.ended.connect(lambda: self._on_ended(operation))

    def cancel(self) -> None:
        if self._operation is not None:
            self._operation.cancel()

    def show_error(self, error: Exception | str) -> None:
        text = error if isinstance(error, str) else describe_error(error)
        self._show(running=self.running, message=f"⚠ {text}")

    def _on_event(self, event: object) -> None:
        if not isinstance(event, Progress):
            return
        counted = f"{event.done:,}" + (f" of {event.total:,}" if event.total else "")
        self.progress.setFormat(f"{event.phase.capitalize()}: {counted}")
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        else:
            self.progress.setRange(0, 0)

    def _on_ended(self, operation: Operation) -> None:
        if self._operation is operation:
            self._operation = None
            self._show(running=False, message=self.message.text())

    def _show(self, *, running: bool, message: str) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self.message.setText(message)
        self.message.setVisible(bool(message))
        self.setVisible(running or bool(message))
