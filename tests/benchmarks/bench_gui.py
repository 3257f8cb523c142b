"""How the desktop app feels: start-up, event-loop stalls, memory.

    .venv/bin/python tests/benchmarks/bench_gui.py [--runs 5] [--files 100000] [--push-files 5000]

Start-up is measured from spawning the process to the first paint of the main
window, side by side with a bare PySide6 window (the floor any Qt app pays),
and checks that no training library was imported. The stall figures run the
app offscreen with a 5 ms heartbeat timer and report the longest gap between
beats while it opens a folder of many images, picks up an image that appears
in it, inspects it, then moves on to a small one (letting the big inspection
go), and while it pushes a set to the embedded store. Memory is the peak RSS
after browsing that folder with thumbnails. Each measurement runs in its own
child process (this script with ``--child``), with private XDG folders in a
temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMALL = "small"
"""A folder of a few images beside the big one, inspected after it."""


# -- children: each prints one JSON line -----------------------------------------


def child_window(bare: bool) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    if bare:
        window = QMainWindow()
        window.resize(1100, 700)
    else:
        from datayard.core.store.workspace import Workspace
        from datayard.gui.main_window import MainWindow

        window = MainWindow(Workspace.default())
    window.show()
    heavy = sorted(m for m in ("ultralytics", "torch", "cv2") if m in sys.modules)
    QTimer.singleShot(0, lambda: (print(json.dumps({"heavy": heavy}), flush=True), app.quit()))
    app.exec()


class Heartbeat:
    """The longest gap between 5 ms timer beats: how long the event loop stalled."""

    def __init__(self) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.clock = QElapsedTimer()
        self.last = 0
        self.longest = 0
        self.timer = QTimer(interval=5)
        self.timer.timeout.connect(self.beat)
        self.clock.start()
        self.timer.start()

    def beat(self) -> None:
        now = self.clock.elapsed()
        self.longest = max(self.longest, now - self.last)
        self.last = now


def pump_until(app: object, condition: Callable[[], bool], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.002)


def child_browse(folder: str, count: str) -> None:
    from PySide6.QtWidgets import QApplication

    from datayard.core.settings import Settings
    from datayard.core.store.workspace import Workspace
    from datayard.gui.app import tune_interpreter
    from datayard.gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    big = Path(folder)
    workspace = Workspace.default()
    workspace.save(Settings(owner="ada", roots=(str(big.parent),)))
    window = MainWindow(workspace)
    window.resize(1366, 768)
    window.show()
    tune_interpreter(app)  # as the app does after showing its window
    browser = window.browser
    pump_until(app, lambda: browser.model.folder(big) is not None)
    beat = Heartbeat()
    item = browser.model.folder(big)
    assert item is not None
    browser.tree.expand(item.index())
    pump_until(app, lambda: item.rowCount() >= int(count))
    tree_stall = beat.longest
    beat = Heartbeat()
    arrived = big / "zz_arrived.png"  # sorts last: the row count says when it is in
    shutil.copyfile(big / "img_000000.png", arrived)
    pump_until(app, lambda: item.rowCount() > int(count))
    arrive_stall = beat.longest
    arrived.unlink()
    pump_until(app, lambda: item.rowCount() == int(count))
    beat = Heartbeat()
    window.inspector.inspect([big])
    pump_until(app, lambda: window.inspector.bar.isHidden())
    end = time.monotonic() + 3  # the visible cells' thumbnails arrive
    pump_until(app, lambda: time.monotonic() > end)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    inspect_stall = beat.longest
    beat = Heartbeat()
    window.inspector.inspect([big.parent / SMALL])  # moving on: the big inspection is let go
    pump_until(app, lambda: window.inspector.bar.isHidden())
    end = time.monotonic() + 2  # the release of the big one, in a worker
    pump_until(app, lambda: time.monotonic() > end)
    figures = {
        "tree": tree_stall,
        "arrive": arrive_stall,
        "inspect": inspect_stall,
        "leave": beat.longest,
        "rss": rss,
    }
    print(json.dumps(figures), flush=True)
    window.close()


def child_push(folder: str, keyring_home: str) -> None:
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from datayard.core.datasets.push.request import PushRequest
    from datayard.core.store.workspace import Workspace
    from datayard.gui.app import tune_interpreter
    from datayard.gui.transfers import TransfersPanel
    from tests.fixtures.services import private_secret_service

    with private_secret_service(Path(keyring_home)):
        app = QApplication(sys.argv[:1])
        tune_interpreter(app)  # before the store starts, as in the app
        workspace = Workspace.default()
        workspace.start_local()
        panel = TransfersPanel(workspace)
        panel.resize(1366, 250)
        panel.show()
        beat = Heartbeat()
        started = time.monotonic()
        job = panel.enqueue(PushRequest((Path(folder),), "bench", "local"))
        pump_until(app, lambda: not panel.queue.get(job.id).active)
        figures = {
            "stall": beat.longest,
            "seconds": time.monotonic() - started,
            "state": panel.queue.get(job.id).state.value,
        }
        print(json.dumps(figures), flush=True)
        panel.close()
        workspace.stop_local()


CHILDREN: dict[str, Callable[..., None]] = {
    "bare": lambda: child_window(bare=True),
    "window": lambda: child_window(bare=False),
    "browse": child_browse,
    "push": child_push,
}


# -- the parent: runs the children and prints the figures ------------------------


def run_child(env: dict[str, str], name: str, *args: str) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", name, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - start
    _, errors = process.communicate(timeout=1800)
    if not line:
        raise SystemExit(f"{name} failed:\n{errors[-3000:]}")
    return elapsed, json.loads(line)


def write_pngs(folder: Path, count: int, side: int = 64) -> None:
    """Distinct small PNGs (a counter in the first pixel), written quickly."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (side, side), (40, 110, 140))
    for index in range(count):
        image.putpixel((0, 0), (index % 256, (index // 256) % 256, (index // 65536) % 256))
        image.save(folder / f"img_{index:06d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=100_000, help="images in the browsed folder")
    parser.add_argument("--push-files", type=int, default=5_000, help="images pushed")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        CHILDREN[args.child[0]](*args.child[1:])
        return
    with tempfile.TemporaryDirectory(prefix="datayard-bench-gui-") as home:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            env[variable] = str(Path(home) / variable.lower())
        # Measured as the app runs once installed: with its modules compiled, which
        # the first start (not counted) does for a checkout.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        run_child(env, "window")

        bare = statistics.median(run_child(env, "bare")[0] for _ in range(args.runs))
        runs = [run_child(env, "window") for _ in range(args.runs)]
        ours = statistics.median(seconds for seconds, _ in runs)
        heavy = {name for _, figures in runs for name in figures["heavy"]}  # type: ignore[attr-defined]
        print(f"Start-up to a painted window (median of {args.runs}):")
        print(f"  bare PySide6 QMainWindow  {bare:.3f} s")
        ratio = ours / bare
        print(f"  Datayard main window      {ours:.3f} s  (x{ratio:.2f} of bare Qt; goal < 1.0 s)")
        print(f"  heavy libraries imported: {', '.join(sorted(heavy)) or 'none'}")

        big = Path(home) / "share" / "big"
        write_pngs(big, args.files)
        write_pngs(big.parent / SMALL, 20)
        _, browsed = run_child(env, "browse", str(big), str(args.files))
        print(f"\nA folder of {args.files:,} images (goal: no stall above 50 ms, RSS < 400 MB):")
        print(f"  longest stall opening it in the tree          {browsed['tree']:.0f} ms")
        print(f"  longest stall as a new image appears in it    {browsed['arrive']:.0f} ms")
        print(
            f"  longest stall inspecting it (scan, check, thumbnails) {browsed['inspect']:.0f} ms"
        )
        print(f"  longest stall moving on to a small folder     {browsed['leave']:.0f} ms")
        print(f"  peak RSS after browsing it with thumbnails    {browsed['rss']:.0f} MiB")

        source = Path(home) / "push"
        write_pngs(source, args.push_files, side=80)
        _, pushed = run_child(env, "push", str(source), str(Path(home) / "keyring"))
        print(f"\nPushing {args.push_files:,} images through the transfers panel (goal: 50 ms):")
        print(
            f"  longest stall {pushed['stall']:.0f} ms; push took {pushed['seconds']:.1f} s, "
            f"job {pushed['state']}"
        )


if __name__ == "__main__":
    main()
