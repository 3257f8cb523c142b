"""The log panel shows records from any thread, filtered by level, and cleans up after itself."""

from __future__ import annotations

import logging
import threading

from pytestqt.qtbot import QtBot

from datayard.gui.app import configure_logging
from datayard.gui.log_panel import LogPanel


def test_a_record_from_a_worker_thread_appears(qtbot: QtBot) -> None:
    panel = LogPanel()
    qtbot.addWidget(panel)
    worker = threading.Thread(
        target=lambda: logging.getLogger("datayard.core.datasets.pull").warning(
            "pulled %d files", 3
        ),
        name="pull-worker",
    )
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: "pulled 3 files" in panel.text.toPlainText(), timeout=30_000)
    assert "WARNING datayard.core.datasets.pull: pulled 3 files" in panel.text.toPlainText()


def test_the_level_filter_and_the_line_limit(qtbot: QtBot) -> None:
    panel = LogPanel(max_lines=3)
    qtbot.addWidget(panel)
    log = logging.getLogger("datayard.test")
    log.setLevel(logging.DEBUG)
    try:
        log.debug("detail")
        log.info("step")
        log.error("broken")
        qtbot.waitUntil(lambda: "broken" in panel.text.toPlainText(), timeout=30_000)
        assert "detail" not in panel.text.toPlainText()  # Info is the default
        assert "step" in panel.text.toPlainText()
        panel.level.setCurrentIndex(panel.level.findText("Errors"))
        assert "step" not in panel.text.toPlainText() and "broken" in panel.text.toPlainText()
        panel.level.setCurrentIndex(panel.level.findText("Debug"))
        assert "detail" in panel.text.toPlainText()
        for index in range(5):
            log.info("line %d", index)
        qtbot.waitUntil(lambda: "line 4" in panel.text.toPlainText(), timeout=30_000)
        assert panel.text.blockCount() == 3
        assert "line 4" in panel.text.toPlainText() and "broken" not in panel.text.toPlainText()
    finally:
        log.setLevel(logging.NOTSET)


def test_the_handler_goes_away_with_the_panel(qtbot: QtBot) -> None:
    logger = logging.getLogger("datayard")
    before = list(logger.handlers)
    panel = LogPanel()
    assert panel.handler in logger.handlers
    panel.deleteLater()
    qtbot.waitUntil(lambda: logger.handlers == before, timeout=30_000)


def test_the_app_s_steps_are_shown_when_the_command_line_started_it(qtbot: QtBot) -> None:
    """``datayard gui`` runs the command line's set-up first, which logs WARNING and up."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.WARNING)  # as the `datayard` group does before any command
    try:
        configure_logging()
        panel = LogPanel()
        qtbot.addWidget(panel)
        logging.getLogger("datayard.core.datasets.push").info("pushed %d files", 3)
        qtbot.waitUntil(lambda: "pushed 3 files" in panel.text.toPlainText(), timeout=30_000)
    finally:
        root.setLevel(before)
