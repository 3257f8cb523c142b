"""Start the desktop app.

Qt is imported here, not at package import, so that ``datayard --help`` and the
CLI commands stay fast and work without a display.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

from datayard.core.workspace import Workspace

from .main_window import MainWindow

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication([sys.argv[0], *(argv or [])])
    app.setApplicationName("Datayard")
    app.setOrganizationName("Datayard")
    workspace = Workspace.default()
    window = MainWindow(workspace)
    window.show()
    window.connect_store()
    return int(app.exec())
