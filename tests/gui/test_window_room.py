"""At the default 1280x760 the images get the room: Transfers is one line while idle, opens
for a push or a drag, and the last folder browsed is selected again at the next start."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from datayard.core.datasets.push.queue import JobState
from datayard.core.datasets.push.request import PushRequest
from datayard.core.settings import Settings
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.gui.main_window import MainWindow
from datayard.gui.transfers import PushDialog
from datayard.gui.transfers.text import IDLE
from tests.e2e.test_push import write_images
from tests.fixtures.waits import LONG_MS

pytestmark = pytest.mark.usefixtures("secret_service")

Opener = Callable[[], MainWindow]


@pytest.fixture
def open_window(qtbot: QtBot, tmp_path: Path) -> Iterator[Opener]:
    """Windows opened one after the other at the default size, sharing one QSettings file."""
    state = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    opened: list[MainWindow] = []

    def open_one() -> MainWindow:
        window = MainWindow(Workspace.default(), state=state)
        qtbot.addWidget(window)
        window.resize(1280, 760)
        window.show()
        opened.append(window)
        return window

    yield open_one
    for window in opened:
        window.transfers.has_active_jobs = lambda: False  # type: ignore[method-assign]


def room_of_the_images(window: MainWindow) -> float:
    return window.inspector.height() / window.height()


def transfers_height(window: MainWindow) -> int:
    return window.transfers_dock.height()


def test_idle_transfers_are_one_line_and_a_drag_over_the_window_opens_them(
    qtbot: QtBot, open_window: Opener, tmp_path: Path
) -> None:
    window = open_window()
    panel = window.transfers
    qtbot.waitUntil(lambda: room_of_the_images(window) >= 2 / 3)
    assert panel.strip.isVisible() and panel.strip.text() == IDLE
    assert not panel.drop_area.isVisible()
    assert transfers_height(window) < 3 * panel.strip.height()

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    over = window.inspector.grid.viewport()
    centre = over.rect().center()
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(over, enter)
    assert enter.isAccepted()
    qtbot.waitUntil(lambda: panel.drop_area.isVisible() and room_of_the_images(window) < 2 / 3)
    dropped = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(over, dropped)
    dialog = panel.findChild(PushDialog)
    assert dropped.isAccepted() and dialog is not None and dialog.isVisible()
    assert dialog.folders == (tmp_path,)
    dialog.reject()

    panel.hide_button.click()
    qtbot.waitUntil(lambda: room_of_the_images(window) >= 2 / 3)
    panel.strip.click()
    assert panel.drop_area.isVisible()
    window.close()


def test_a_push_opens_transfers_at_the_height_the_user_gave_them_and_they_stay_open(
    qtbot: QtBot, open_window: Opener, bucket: Bucket, tmp_path: Path
) -> None:
    window = open_window()
    panel = window.transfers
    panel.strip.click()
    qtbot.waitUntil(lambda: transfers_height(window) > 200)
    # The user drags the separator up; the panel is then hidden and opened by a push.
    window.resizeDocks([window.transfers_dock], [330], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: transfers_height(window) > 260)
    chosen = transfers_height(window)
    panel.hide_button.click()
    qtbot.waitUntil(lambda: room_of_the_images(window) >= 2 / 3)

    source = write_images(tmp_path / "photos", 2)
    job = panel.enqueue(PushRequest((source,), "photos", "lab"))
    assert panel.drop_area.isVisible()
    qtbot.waitUntil(lambda: transfers_height(window) == chosen)
    qtbot.waitUntil(lambda: job.state is JobState.DONE and not panel.busy, timeout=LONG_MS)
    assert panel.is_open and panel.rows[job.id].state.text() == "Done"  # open until hidden

    panel.hide_button.click()
    assert panel.strip.text() == "1 push: 1 done"
    panel.clear_finished()
    assert panel.strip.text() == IDLE
    window.close()
    later = open_window()
    later.transfers.strip.click()
    qtbot.waitUntil(lambda: transfers_height(later) == chosen)
    later.close()


def test_the_last_folder_is_selected_again_and_a_gone_one_is_ignored(
    qtbot: QtBot, open_window: Opener, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    deep = share / "projects" / "cats"
    deep.mkdir(parents=True)
    (share / "dogs").mkdir()
    workspace = Workspace.default()
    workspace.save(Settings(owner="ada", roots=(str(share),)))

    first = open_window()
    tree = first.browser.model
    qtbot.waitUntil(lambda: tree.folder(share / "projects") is not None, timeout=LONG_MS)
    first.browser.tree.expand(tree.folder(share / "projects").index())  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: tree.folder(deep) is not None, timeout=LONG_MS)
    first.browser.tree.setCurrentIndex(tree.folder(deep).index())  # type: ignore[union-attr]
    first.close()

    second = open_window()
    qtbot.waitUntil(lambda: second.browser.selected_paths() == [deep], timeout=LONG_MS)
    selected = second.browser.tree.currentIndex()
    assert second.browser.tree.isExpanded(selected.parent())
    assert second.browser.tree.visualRect(selected).intersects(
        second.browser.tree.viewport().rect()
    )
    second.close()

    deep.rmdir()
    third = open_window()
    model = third.browser.model
    qtbot.waitUntil(
        lambda: share / "projects" in map(Path, model.loaded_folders()), timeout=LONG_MS
    )
    assert third.browser.selected_paths() == []
    third.browser.tree.setCurrentIndex(model.folder(share / "dogs").index())  # type: ignore[union-attr]
    third.close()
    fourth = open_window()
    qtbot.waitUntil(lambda: fourth.browser.selected_paths() == [share / "dogs"], timeout=LONG_MS)
    fourth.close()
