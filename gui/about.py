"""The About box: versions and folders, as a bug report needs them."""

from __future__ import annotations

import importlib.metadata
import platform

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from datayard.core.paths import AppDirs

from .rich_text import quoted


def _installed(distribution: str) -> str:
    # Read from the package metadata: importing pyqtgraph just for its version
    # would add a third of a second to the app's start-up.
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def versions() -> dict[str, str]:
    return {
        "Datayard": _installed("datayard"),
        "Python": platform.python_version(),
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": _installed("pyqtgraph"),
        "System": platform.platform(),
    }


def folders(dirs: AppDirs) -> dict[str, str]:
    return {
        "Settings": str(dirs.settings_file),
        "Data": str(dirs.data),
        "Cache": str(dirs.cache),
        "State": str(dirs.state),
        "Logs": str(dirs.log),
    }


def report(dirs: AppDirs) -> str:
    """Plain text of the box, for the clipboard and bug reports."""
    rows = {**versions(), **folders(dirs)}
    return "\n".join(f"{name}: {value}" for name, value in rows.items())


class AboutDialog(QDialog):
    def __init__(self, dirs: AppDirs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Datayard")
        self._dirs = dirs
        self.body = QLabel(_html(dirs))
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy to clipboard", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.body)
        layout.addWidget(buttons)
        self.resize(620, self.sizeHint().height())

    def copy(self) -> None:
        QApplication.clipboard().setText(report(self._dirs))


def _html(dirs: AppDirs) -> str:
    def table(rows: dict[str, str]) -> str:
        cells = "".join(
            f"<tr><td><b>{quoted(k)}</b>&nbsp;&nbsp;</td><td>{quoted(v)}</td></tr>"
            for k, v in rows.items()
        )
        return f"<table>{cells}</table>"

    return (
        "<h2>Datayard</h2>"
        "<p>Browse, check and version image sets, push them to an S3 store, train YOLO.</p>"
        f"{table(versions())}<h3>Folders</h3>{table(folders(dirs))}"
    )
