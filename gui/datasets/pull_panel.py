"""Pull a version into a folder: progress, cancel, and what happened."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from datayard.core.datasets.describe import count
from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.pull import DEFAULT_WORKERS, PullResult, pull
from datayard.core.events import Transfer
from datayard.core.store.bucket import Bucket
from datayard.core.units import size

from ..notice import Notice
from ..workers import Operation, run_in_background

_STEPS = 1000
"""The bar counts thousandths: byte counts overflow a QProgressBar's int."""
_FAILURES_SHOWN = 5


class PullPanel(QWidget):
    pulled = Signal(object)
    """The :class:`PullResult` of a pull that ran to its end."""

    def __init__(self, database: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.database = database
        self.operation: Operation | None = None
        self._source: tuple[Bucket, Manifest] | None = None
        self.button = QPushButton("Pull to folder…")
        self.button.setToolTip("Download this version into a folder, ready to train on")
        self.button.clicked.connect(self.choose_and_pull)
        self.bar = QProgressBar()
        self.bar.setRange(0, _STEPS)
        self.bar.hide()
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self._cancel)
        self.cancel.hide()
        self.message = Notice()
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel)
        row.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self.set_source(None)

    def set_source(self, source: tuple[Bucket, Manifest] | None) -> None:
        """The version the button would pull (``None``: not exactly one selected)."""
        self._source = source
        self.button.setEnabled(source is not None and self.operation is None)

    def choose_and_pull(self) -> None:
        if self._source is None:
            return
        folder = QFileDialog.getExistingDirectory(self, f"Pull {self._source[1].ref} into")
        if folder:
            self.start(*self._source, Path(folder))

    def start(self, bucket: Bucket, manifest: Manifest, destination: Path) -> Operation:
        self.bar.setValue(0)
        self.bar.setFormat("%p%")
        self.bar.show()
        self.cancel.show()
        self.cancel.setEnabled(True)
        self.button.setEnabled(False)
        self.message.info(f"Pulling {manifest.ref} into {destination}…")
        operation = run_in_background(
            lambda token: pull(
                bucket,
                manifest,
                destination,
                workers=DEFAULT_WORKERS,
                database=self.database,
                cancel=token,
            ),
            self,
        )
        operation.yielded.connect(self._event)
        operation.finished.connect(self._finished)
        operation.failed.connect(lambda error: self.message.error(f"The pull stopped: {error}"))
        operation.cancelled.connect(
            lambda: self.message.info(
                "Pull cancelled. The files already pulled are kept: pull again to finish."
            )
        )
        operation.ended.connect(self._ended)
        self.operation = operation
        return operation

    def _event(self, event: object) -> None:
        if isinstance(event, Transfer):
            done = event.bytes_done / event.bytes_total if event.bytes_total else 1.0
            self.bar.setValue(round(done * _STEPS))
            self.bar.setFormat(
                f"%p%  {event.files_done}/{event.files_total} files, "
                f"{size(event.bytes_done)} of {size(event.bytes_total)}"
            )

    def _finished(self, result: PullResult) -> None:
        self.bar.setValue(_STEPS)
        lines = [
            f"Pulled {result.ref} into {result.destination}: "
            f"{count(result.downloaded, 'file')} downloaded ({size(result.downloaded_bytes)}), "
            f"{result.skipped} already there.",
            f"Train with data={result.data_yaml}",
        ]
        if result.extra_files:
            lines.append(f"{count(result.extra_files, 'other file')} in the folder left alone.")
        if result.failures:
            shown = "\n".join(f"  {f.path}: {f.error}" for f in result.failures[:_FAILURES_SHOWN])
            lines.append(
                f"{count(len(result.failures), 'file')} could not be pulled:\n{shown}\n"
                "Pull again to retry them."
            )
            self.message.error("\n".join(lines))
        else:
            self.message.success("\n".join(lines))
        self.pulled.emit(result)

    def _cancel(self) -> None:
        if self.operation is not None:
            self.cancel.setEnabled(False)
            self.message.info("Cancelling the pull…")
            self.operation.cancel()

    def _ended(self) -> None:
        self.operation = None
        self.cancel.hide()
        self.bar.hide()
        self.set_source(self._source)
