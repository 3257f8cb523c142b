"""The inspector's "Export…" button: the check report shown, saved as an HTML page or CSV.

The page's thumbnails take seconds to decode on a share, so the file is
written in a worker; the button stays disabled until it is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton, QWidget

from datayard.core.drive.check import CheckReport
from datayard.core.drive.check.export import write_csv, write_html
from datayard.core.drive.thumbnails import ThumbnailCache
from datayard.core.events import CancelToken, Finished

from ..workers import run_in_background

HTML_FILTER = "HTML page (*.html)"
CSV_FILTER = "CSV (*.csv)"
LABEL = "Export…"


class ReportExportButton(QPushButton):
    """Enabled while a report is shown (:meth:`show_report`)."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(LABEL, parent)
        self.setToolTip("Save the check report as an HTML page with thumbnails, or as CSV")
        self._thumbnails = thumbnails
        self._report: CheckReport | None = None
        self._writing = False
        self.clicked.connect(self._export)
        self.setEnabled(False)

    def show_report(self, report: CheckReport | None) -> None:
        self._report = report
        self.setEnabled(report is not None and not self._writing)

    def _export(self) -> None:
        report = self._report
        if report is None:
            return
        suggested = Path.home() / f"{report.root.name or 'check'} check.html"
        chosen, selected = QFileDialog.getSaveFileName(
            self, "Export the check report", str(suggested), f"{HTML_FILTER};;{CSV_FILTER}"
        )
        if not chosen:
            return
        target = Path(chosen)
        suffix = target.suffix.lower()
        if suffix not in (".csv", ".html"):  # the name typed decides, else the filter chosen
            suffix = ".csv" if selected == CSV_FILTER else ".html"
            target = target.with_name(target.name + suffix)
        as_csv = suffix == ".csv"
        thumbnails = self._thumbnails

        def write(token: CancelToken) -> Iterator[object]:
            if as_csv:
                write_csv(report, target)
            else:
                write_html(report, target, thumbnails, cancel=token)
            yield Finished(target)

        self._writing = True
        self.setEnabled(False)
        self.setText("Exporting…")
        operation = run_in_background(write, self)
        operation.failed.connect(
            lambda error: QMessageBox.warning(self, "Export failed", str(error))
        )
        operation.ended.connect(self._on_ended)
        operation.ended.connect(operation.deleteLater)

    def _on_ended(self) -> None:
        self._writing = False
        self.setText(LABEL)
        self.setEnabled(self._report is not None)
