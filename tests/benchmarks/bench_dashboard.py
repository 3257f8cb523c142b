"""How fast the runs dashboard redraws long curves: five runs of 100,000 batches overlaid.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_dashboard.py [--runs 5]
        [--batches 100000] [--frames 30]

Writes the runs' event files into a temporary folder, opens the dashboard
offscreen at 1366x768, selects every run (loaded in the background) and then
times frames of two kinds, each as setData of the curves plus a synchronous
repaint of the plots:

- full: every run's curves get their data again (what a smoothing or x-axis
  change costs);
- live: one run receives 100 more batches, as a training run does between two
  ticks of the 10 Hz redraw timer.

The goal is one display frame, 16 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL_MS = 16.0


def pump_until(app: object, condition: Callable[[], bool], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the dashboard did not get there in time")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.005)


def report(name: str, frames: list[float]) -> None:
    median, worst = statistics.median(frames), max(frames)
    print(
        f"  {name:<38} median {median:6.1f} ms  max {worst:6.1f} ms  "
        f"(median x{median / GOAL_MS:.2f} of the {GOAL_MS:.0f} ms goal)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=100_000, help="batch points per curve")
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from datayard.core.paths import AppDirs
    from datayard.core.store.workspace import Workspace
    from datayard.core.training.backends import Backends
    from datayard.core.training.protocol import Batch
    from datayard.gui.training.dashboard import RunDashboard
    from tests.core.test_curves import losses_at, write_run

    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="datayard-bench-dashboard-") as home:
        folders = (Path(home) / name for name in ("config", "data", "cache", "state", "log"))
        backends = Backends.of(Workspace(AppDirs(*folders)))
        registry = backends.registry
        started = time.perf_counter()
        epochs = 100
        runs = [
            write_run(registry, epochs=epochs, batches=args.batches // epochs, seed=seed)
            for seed in range(args.runs)
        ]
        print(
            f"Wrote {args.runs} runs of {args.batches:,} batches in "
            f"{time.perf_counter() - started:.1f} s"
        )

        dashboard = RunDashboard(backends)
        dashboard.resize(1366, 768)
        dashboard.show()
        dashboard.refresh()
        pump_until(app, lambda: dashboard.runs.topLevelItemCount() == args.runs)
        started = time.perf_counter()
        dashboard.select_runs([run.run_id for run in runs])
        curves = dashboard.shown_curves
        pump_until(
            app,
            lambda: (
                all(len(c.series.get("lr", ())) == args.batches for c in curves().values())
                and all(s.drawn == s.curves.version for s in dashboard._shown.values())
            ),
        )
        print(
            f"Loaded and drew them in {time.perf_counter() - started:.1f} s "
            "(in the background: the UI stays responsive)"
        )
        dashboard._timer.stop()  # frames are driven by hand below

        def frame(before: Callable[[], None]) -> float:
            before()
            start = time.perf_counter()
            dashboard._redraw()
            dashboard.plots.repaint()
            return (time.perf_counter() - start) * 1000

        points = args.runs * sum(
            len(s)
            for name, s in next(iter(curves().values())).series.items()
            if name.startswith("batch/") or name == "lr"
        )
        print(
            f"\n{args.runs} runs overlaid, {points:,} per-batch points, "
            f"{len(dashboard.plots.plots)} plots at 1366x768:"
        )
        frame(dashboard._invalidate)  # warm caches
        report(
            "full redraw (setData of every curve)",
            [frame(dashboard._invalidate) for _ in range(args.frames)],
        )

        live = dashboard._shown[runs[0].run_id]
        step = [args.batches]

        def hundred_batches() -> None:
            for _ in range(100):
                step[0] += 1
                live.inbox.append(
                    Batch(
                        epoch=epochs + 1,
                        batch=1,
                        batches=1,
                        step=step[0],
                        losses=losses_at(step[0]),
                        lr=0.001,
                    )
                )

        report(
            "live frame (one run, +100 batches)",
            [frame(hundred_batches) for _ in range(args.frames)],
        )
        dashboard.close()
        from datayard.gui.workers import stop_all

        stop_all()


if __name__ == "__main__":
    main()
