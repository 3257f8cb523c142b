"""Whether this computer can train, and the action that makes it able to.

The packaged app has no torch or Ultralytics of its own: it trains with a
worker environment that ``datayard host setup local`` makes, and this panel
offers that set-up where a run would be launched, with its progress, so that
nobody has to find the command first.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from datayard.core.errors import UsageError
from datayard.core.hosts.local import this_computer
from datayard.core.hosts.worker_env import SetupStep, set_up
from datayard.core.training.support import TrainingSupport

from ..notice import Notice
from ..operation_bar import OperationBar
from ..rich_text import plain_label
from ..workers import Operation, call_in_background, run_in_background

_LOG_LINES = 500
"""The installer's output kept in view: enough to read why it failed."""


class TrainingSupportPanel(QWidget):
    """Hidden while this computer can train (or while that is being found out).

    ``support`` gives the facts when they are known already; otherwise they are
    looked up in the background. ``cache`` is where a Datayard that runs from
    its sources builds the wheel it installs.
    """

    changed = Signal()
    """:attr:`can_train` may have changed."""

    def __init__(
        self, cache: Path, support: TrainingSupport | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.cache = cache
        self.support = support
        self._install: Operation | None = None
        self._offered = False
        self.notice = Notice()
        self.python = QLineEdit(placeholderText="the first python3 on the PATH")
        self.python.setToolTip(
            "The Python the environment is built on. One that has torch already (a conda "
            "environment, say) saves downloading it."
        )
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._choose_python)
        self.install_button = QPushButton("Install training support")
        self.install_button.clicked.connect(self.install)
        self.offer = QWidget()
        row = QHBoxLayout(self.offer)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(plain_label("Python to build on:"))
        row.addWidget(self.python, 1)
        row.addWidget(choose)
        row.addWidget(self.install_button)
        self.bar = OperationBar()
        self.output = QPlainTextEdit(readOnly=True)
        self.output.setMaximumBlockCount(_LOG_LINES)
        self.output.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.output.setMaximumHeight(120)
        self.output.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notice)
        layout.addWidget(self.offer)
        layout.addWidget(self.bar)
        layout.addWidget(self.output)
        if support is None:
            self.hide()
            self.check()
        else:
            self._show(support)

    @property
    def can_train(self) -> bool | None:
        """Whether runs can start here; None until that is known."""
        return None if self.support is None else self.support.python is not None

    @property
    def installing(self) -> bool:
        return self._install is not None

    def check(self) -> Operation:
        """Look again at this computer, in the background (it runs a Python)."""
        checking = call_in_background(TrainingSupport.here, self)
        checking.finished.connect(self._show)
        return checking

    def install(self) -> Operation | None:
        """Make this computer's worker environment, as ``datayard host setup local`` does."""
        try:
            host = this_computer(self.python.text().strip())
        except UsageError as error:
            self.bar.show_error(error)
            return None
        operation = run_in_background(
            lambda token: set_up(host, cache=self.cache, cancel=token), self
        )
        self._install = operation
        self.install_button.setEnabled(False)
        self.python.setEnabled(False)
        self.output.clear()
        self.output.show()
        self.notice.info(
            "Installing training support: the first time takes minutes (torch is large)."
        )
        self.bar.track(operation, "Installing training support")
        operation.yielded.connect(self._step)
        operation.finished.connect(lambda _: self.check())
        operation.cancelled.connect(
            lambda: self.notice.info("Cancelled: nothing was changed. Install again at any time.")
        )
        operation.ended.connect(self._ended)
        return operation

    def cancel(self) -> None:
        """Stop an install under way; it leaves the environment as it was."""
        if self._install is not None:
            self._install.cancel()

    def _step(self, step: object) -> None:
        if not isinstance(step, SetupStep):
            return
        self.bar.progress.setFormat(step.phase.capitalize())
        self.output.appendPlainText(f"{step.phase}: {step.detail}" if step.detail else step.phase)

    def _ended(self) -> None:
        self._install = None
        self.install_button.setEnabled(True)
        self.python.setEnabled(True)

    def _show(self, support: TrainingSupport) -> None:
        self.support = support
        if support.python is None:
            self.notice.error(
                "This computer cannot train yet: this app has no torch or Ultralytics of its "
                f"own, and its worker environment {support.environment} is not ready "
                f"({support.environment_problem}). Installing training support makes it; "
                "name a Python that has torch already to save downloading it."
            )
            self._offered = True
            self.offer.show()
            self.show()
        elif self._offered:  # installed from here: say so, where the offer was
            self.notice.success(f"Training support is installed: runs train with {support.python}.")
            self.offer.hide()
        else:
            self.hide()
        self.changed.emit()

    def _choose_python(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A Python to build on", "/")
        if path:
            self.python.setText(path)
