"""One real drag, as a user's mouse makes it: from the tree onto the drop zone of the folded
Transfers panel, which opens as the drag enters the window, under Xvfb.

Offscreen Qt cannot run a real drag (QDrag.exec needs a window system), so this
test starts Xvfb, runs the app on it in a child process, and moves the mouse
with xdotool. It is skipped where Xvfb or xdotool is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures.xvfb import needs_x, x_display

pytestmark = needs_x

CHILD = r"""
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from datayard.core.settings import Settings
from datayard.core.store.workspace import Workspace
from datayard.gui.main_window import MainWindow

app = QApplication(sys.argv)
workspace = Workspace.default()
workspace.save(Settings(owner="ada", roots=(sys.argv[1],)))
window = MainWindow(workspace)
window.setGeometry(0, 0, 1200, 760)
window.show()
panel = window.transfers

def requested(paths):
    print("DROPPED", *paths, flush=True)
    app.quit()

panel.drop_area.dropped.connect(requested)

def report():
    tree = window.browser.tree
    model = tree.model()
    root = model.index(0, 0)
    if model.rowCount(root) == 0:
        tree.expand(root)
        QTimer.singleShot(200, report)
        return
    source = tree.visualRect(model.index(0, 0, root)).center()
    source = tree.viewport().mapToGlobal(source)
    # Where the drop zone will be: the drag opens the folded panel as it enters the window.
    panel.set_open(True)
    app.processEvents()
    target = panel.drop_area.mapToGlobal(panel.drop_area.rect().center())
    panel.set_open(False)
    print("AT", source.x(), source.y(), target.x(), target.y(), flush=True)

QTimer.singleShot(500, report)
QTimer.singleShot(60_000, app.quit)
app.exec()
window.close()
"""


def test_a_real_mouse_drag_from_the_tree_queues_a_push(tmp_path: Path) -> None:
    share = tmp_path / "share"
    (share / "cats").mkdir(parents=True)
    (share / "cats" / "a.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    with x_display() as display:
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(share)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            drag_and_drop(child, env, share)
        finally:
            child.kill()
            child.wait(timeout=10)


def drag_and_drop(child: subprocess.Popen[str], env: dict[str, str], share: Path) -> None:
    """Read where the folder and the drop zone are, drag one onto the other, read the drop."""
    assert child.stdout is not None
    line = child.stdout.readline().split()
    assert line and line[0] == "AT", child.stderr.read() if child.stderr else line
    sx, sy, tx, ty = (int(v) for v in line[1:])

    def xdotool(*args: str) -> None:
        subprocess.run(["xdotool", *args], env=env, check=True, timeout=10)
        time.sleep(0.15)  # pacing for the window system, not a timing assertion

    xdotool("mousemove", str(sx), str(sy))
    xdotool("mousedown", "1")
    for step in range(1, 11):  # past the drag distance, then across to the target
        xdotool("mousemove", str(sx + (tx - sx) * step // 10), str(sy + (ty - sy) * step // 10))
    xdotool("mouseup", "1")

    dropped = child.stdout.readline().split()
    assert dropped[:1] == ["DROPPED"], child.stderr.read() if child.stderr else dropped
    assert dropped[1:] == [str(share / "cats")]
