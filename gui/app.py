"""Start the desktop app.

Qt is imported here, not at package import, so that ``datayard --help`` and the
CLI commands stay fast and work without a display.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Sequence

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from datayard import resources
from datayard.core.logs import quiet_http_client
from datayard.core.priority import set_background_niceness
from datayard.core.store.workspace import Workspace

from .heap import UiThreadCollector
from .main_window import MainWindow, delayed_start
from .workers import any_running, stop_all

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10
"""Background work weighs about a tenth of the UI thread in Linux's scheduler."""


def _no_display() -> bool:
    """On Linux, Qt aborts the process when there is no screen to draw on: say it first."""
    return (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    )


def tune_interpreter(app: QApplication) -> None:
    """Keep worker threads from stalling the UI while large sets are in memory.

    Measured with tests/benchmarks/bench_gui.py on folders of 50,000 to 100,000
    images: the UI thread waits for the GIL while a worker runs one long C call,
    and a garbage collection is one. Start-up objects are frozen out of every
    collection, and collections run on the UI thread only (:mod:`.heap`).
    Switching threads every millisecond lets the UI thread in sooner between
    bytecodes, and background work gives it the processor when both want it
    (:mod:`datayard.core.priority`): call this before starting the store.
    """
    gc.freeze()
    UiThreadCollector(app, busy=any_running)
    sys.setswitchinterval(0.001)
    set_background_niceness(BACKGROUND_NICENESS)


def configure_logging() -> None:
    """Log the app's steps at INFO, on stderr and in its Log panel, however it was started:
    ``datayard gui`` comes through the command line, which set WARNING before, and
    ``datayard --debug gui`` set DEBUG, which stays."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(min(root.level, logging.INFO))
    quiet_http_client(debug=root.isEnabledFor(logging.DEBUG))


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    if _no_display():
        log.error(
            "no display: start Datayard from a desktop session (DISPLAY or WAYLAND_DISPLAY "
            "must be set), or use the 'datayard' command line"
        )
        return 2
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication([sys.argv[0], *(argv or [])])
    )
    app.setApplicationName("Datayard")
    app.setOrganizationName("Datayard")
    app.setDesktopFileName("datayard")
    app.setWindowIcon(QIcon(str(resources.ROOT / "icons" / "datayard.svg")))
    workspace = Workspace.default()
    window = MainWindow(workspace)
    window.show()
    tune_interpreter(app)
    delayed_start(window)
    code = int(app.exec())
    # The close joined the workers, but a result delivered after it may have started one
    # more step in the background: it ends here, while the window and its signals exist,
    # not in the interpreter's shutdown ("Signal source has been deleted").
    stop_all()
    return code
