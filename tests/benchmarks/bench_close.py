"""How long the app takes to close, as a user sees it: from the window's close to the
window gone, and to the process gone.

    xvfb-run -a .venv/bin/python tests/benchmarks/bench_close.py --x11 [--rounds 3]
        [--images 300] [--cases early,idle,scanned,scanning,push,dashboard]
        [--keep DIR] [--verbose]

Why a script and not a test: these are durations on a shared machine; the tests
check what the close does, this measures how long it takes. Each round starts
the app as its own process (``datayard gui``'s :func:`datayard.gui.app.main`)
with the embedded store as its store and a folder of ``--images`` PNGs as its
shared drive, settings written beforehand so that no welcome asks anything. A
driver inside the process does the case's work and then closes the window
(``window.close()``, as the title bar's close and File → Quit do):

* early: closed as soon as the window shows, while the store is starting.
* idle: closed once the store is connected, nothing else done.
* scanned: the Inspector inspected the folder (with its thumbnails) to the end.
* scanning: closed a moment after the Inspector started on the folder.
* push: closed while a push of the folder uploads, "Pause them and quit?" answered Yes.
* dashboard: the Training tab was opened (the dashboard built and refreshed).

Printed per case, median (min-max), all from the close: the window hidden (its
Hide event), the embedded store's stop (``Workspace.stop_local``), the process's
exit as the launching process saw it, and with ``--x11`` (on the X server in
DISPLAY, without it offscreen) the last moment the X server still showed the
window (``xdotool search --onlyvisible``, every 10 ms or so). ``--verbose``
lists every step of each close and the store's own account of its stop.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.measure import finish, progress, work_folder

CASES = ("early", "idle", "scanned", "scanning", "push", "dashboard")


def drive(case: str, folder: Path) -> None:
    """In the app's process: run ``main`` with a driver that closes the window."""
    import atexit

    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QMessageBox

    import datayard.gui.app as gui_app
    from datayard.core.datasets.push.request import PushRequest
    from datayard.gui.main_window import MainWindow
    from datayard.gui.workers import any_running

    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks.setdefault(name, time.time())

    # Registered first, so run last: after the threads' joins and every other exit hook.
    atexit.register(lambda: print("MARKS " + json.dumps(marks), flush=True))

    class Hidden(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Hide:
                mark("hidden")
            return False

    hidden = Hidden()

    def when(ready: object, then: object, every_ms: int = 50) -> None:
        if ready():  # type: ignore[operator]
            then()  # type: ignore[operator]
        else:
            QTimer.singleShot(every_ms, lambda: when(ready, then, every_ms))

    def close(window: MainWindow) -> None:
        QMessageBox.question = lambda *_: QMessageBox.StandardButton.Yes  # type: ignore[method-assign]
        mark("close")
        window.close()
        mark("close_returned")

    def run_case(window: MainWindow) -> None:
        mark("connected")
        if case == "idle":
            QTimer.singleShot(500, lambda: close(window))
        elif case == "scanned":
            window.inspector.inspect([folder])
            when(lambda: not any_running(), lambda: QTimer.singleShot(500, lambda: close(window)))
        elif case == "scanning":
            window.inspector.inspect([folder])
            QTimer.singleShot(300, lambda: close(window))
        elif case == "push":
            job = window.transfers.enqueue(PushRequest((folder,), "photos", "local"))

            def sending() -> bool:
                return job.transfer is not None and job.transfer.files_done > 0

            def close_push() -> None:
                print(f"push at close: {job.state} {job.transfer}", flush=True)
                close(window)

            when(sending, close_push, every_ms=10)
        elif case == "dashboard":
            window.show_training()
            QTimer.singleShot(3000, lambda: close(window))

    def timed(owner: object, name: str, label: str) -> None:
        """Time each call of ``owner.name``: its start and end are marks of their own."""
        method = getattr(owner, name)

        def call(*args: object, **kwargs: object) -> object:
            mark(f"{label}>")
            try:
                return method(*args, **kwargs)
            finally:
                mark(f"{label}<")

        setattr(owner, name, call)

    original = gui_app.delayed_start

    def delayed_start(window: MainWindow) -> None:
        window.installEventFilter(hidden)
        timed(window.workspace, "stop_local", "store_stop")
        timed(gui_app.sys.modules["datayard.gui.main_window"], "stop_all", "stop_all")
        original(window)
        if case == "early":
            QTimer.singleShot(300, lambda: close(window))
        else:
            when(lambda: window.connection is not None, lambda: run_case(window))

    gui_app.delayed_start = delayed_start  # type: ignore[assignment]
    code = gui_app.main([])
    mark("exec_returned")
    sys.exit(code)


def on_screen() -> bool:
    """Whether the X server shows a window titled Datayard (``--x11`` only)."""
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", "^Datayard$"],
        capture_output=True,
        check=False,
    )
    return bool(found.stdout.strip())


def one_round(
    case: str, work: Path, folder: Path, round_: int, *, x11: bool, verbose: bool
) -> dict[str, float]:
    log = work / f"{case}-{round_}.log"
    env = dict(os.environ) if x11 else dict(os.environ, QT_QPA_PLATFORM="offscreen")
    store_log = work / "home" / "state" / "datayard" / "log" / "store.log"
    offset = store_log.stat().st_size if store_log.exists() else 0
    shown: list[float] = []
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, __file__, "--drive", case, "--folder", str(folder)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        # The X server's own view: the last moment the window was still mapped.
        while process.poll() is None:
            if x11 and on_screen():
                shown.append(time.time())
            time.sleep(0.01)
    exited = time.time()
    text = log.read_text(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("MARKS ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"{case}: the app failed (code {process.returncode}):\n{text[-3000:]}")
    for pid in re.findall(r"started the embedded store at \S+ \(pid (\d+)\)", text):
        # Its exit may still be under way (a zombie with threads left), never its work.
        try:
            psutil.Process(int(pid)).wait(5)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            raise RuntimeError(f"{case}: the embedded store (pid {pid}) outlived the app") from None
    marks = json.loads(line.removeprefix("MARKS "))
    close = marks["close"]
    if verbose:
        for name in sorted(marks, key=marks.__getitem__):
            print(f"    +{marks[name] - close:6.2f} s {name}", file=sys.stderr)
        with store_log.open("rb") as handle:
            handle.seek(offset)
            stops = [x for x in handle.read().decode(errors="replace").splitlines() if "stop" in x]
        print("    store: " + "; ".join(x.strip() for x in stops), file=sys.stderr)
    times = {
        "hidden": marks["hidden"] - close,
        "store stop": marks.get("store_stop<", close) - marks.get("store_stop>", close),
        "exit": exited - close,
    }
    if x11:
        times["unmapped"] = max([t for t in shown if t >= close], default=close) - close
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--x11", action="store_true", help="on the X server in DISPLAY")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args.drive, args.folder)
        return

    started = time.perf_counter()
    work = work_folder(args.keep, "bench-close-")
    from datayard.core.settings import Settings
    from datayard.core.store.workspace import Workspace
    from tests.e2e.test_push import write_images
    from tests.fixtures.services import private_secret_service

    folder = write_images(work / "drive" / "photos", args.images)
    Workspace.default().save(Settings(roots=(str(folder.parent),)))
    with ExitStack() as services:
        services.enter_context(private_secret_service(work / "keyring"))
        for case in args.cases.split(","):
            rows = []
            for round_ in range(args.rounds):
                progress(f"{case} {round_ + 1}/{args.rounds}", started)
                # A push sends only what the store lacks: each round pushes images of its own.
                pushed = (
                    write_images(work / "drive" / f"push-{round_}", args.images, seed=1 + round_)
                    if case == "push"
                    else folder
                )
                rows.append(
                    one_round(case, work, pushed, round_, x11=args.x11, verbose=args.verbose)
                )
            print(
                f"{case:10s} "
                + "  ".join(
                    f"{key} {statistics.median(r[key] for r in rows):.2f} s "
                    f"({min(r[key] for r in rows):.2f}-{max(r[key] for r in rows):.2f})"
                    for key in rows[0]
                ),
                flush=True,
            )
    finish(work, args.keep, started)


if __name__ == "__main__":
    main()
