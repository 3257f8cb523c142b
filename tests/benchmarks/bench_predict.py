"""How fast a model is tried: the app's Try it and ``datayard predict`` against ``yolo predict``.

    .venv/bin/python tests/benchmarks/bench_predict.py [--runs 3] [--images 100]

Each tool predicts, on the CPU, on the same folder of 640 x 640 px JPEGs with the
same yolo11n weights at the same confidence floor (0.001, the floor Try it keeps
so that its slider never waits for the model). The weights are yolo11n's
architecture untrained, saved by Ultralytics: how fast a model predicts does not
depend on what it learnt, and at that floor an untrained model reports many
boxes, the heavier case for the non-maximum suppression and for what is written.
``yolo predict`` runs with ``save=False`` (it keeps nothing); Datayard writes a
label file per image and the detections with their confidences.

Every figure is the whole wait a user has: from the command (or the click) to
the last prediction, child process, imports and model loading included. Try it
runs in an offscreen app with a 5 ms heartbeat timer; its longest gap between
beats is the longest the window stalled while it predicted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.measure import Launcher, finish, progress, work_folder  # noqa: E402

SIZE = 640
CONF = "0.001"


def make_images(folder: Path, count: int) -> None:
    """Noisy photos-like images, each with a few filled shapes."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True)
    rng = random.Random(0)
    for index in range(count):
        image = Image.effect_noise((SIZE, SIZE), 40).convert("RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randrange(1, 6)):
            x, y, side = rng.randrange(0, 540), rng.randrange(0, 540), rng.randrange(20, 100)
            colour = tuple(rng.randrange(256) for _ in range(3))
            draw.rectangle((x, y, x + side, y + side), fill=colour)
        image.save(folder / f"photo_{index:04d}.jpg", quality=90)


def make_weights(target: Path, env: dict[str, str]) -> None:
    script = "import sys; from ultralytics import YOLO; YOLO('yolo11n.yaml').save(sys.argv[1])"
    subprocess.run([sys.executable, "-c", script, str(target)], check=True, env=env)


# -- the Try it child: prints nothing, writes one JSON file ---------------------------


def child_try_it(weights: str, images: str, result: str) -> None:
    from PySide6.QtWidgets import QApplication

    from datayard.core.paths import AppDirs
    from datayard.gui.training.try_it import TryIt
    from tests.benchmarks.bench_gui import Heartbeat, pump_until

    app = QApplication(sys.argv[:1])
    try_it = TryIt(AppDirs.default())
    try_it.model.addItem("benchmark weights", Path(weights))
    try_it.resize(1200, 800)
    try_it.show()
    ended: list[object] = []
    beat = Heartbeat()
    started = time.perf_counter()
    operation = try_it.predict([Path(images)])
    operation.finished.connect(ended.append)
    operation.failed.connect(ended.append)
    pump_until(app, lambda: bool(ended))
    wall = time.perf_counter() - started
    if isinstance(ended[0], Exception):
        raise ended[0]
    figures = {"wall": wall, "stall_ms": beat.longest, "images": try_it.images.count()}
    Path(result).write_text(json.dumps(figures))
    try_it.stop()


# -- the parent: the table ------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="keep the work folder under this one")
    args = parser.parse_args()
    started = time.perf_counter()
    work = work_folder(args.keep, "datayard-bench-predict-")
    launcher = Launcher()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "YOLO_OFFLINE": "1"}
    env["YOLO_CONFIG_DIR"] = str(work / "ultralytics")
    log = work / "commands.log"
    images, weights = work / "images", work / "yolo11n.pt"
    progress(f"making {args.images} images and the weights", started)
    make_images(images, args.images)
    make_weights(weights, env)
    bin_dir = Path(sys.executable).parent
    walls: dict[str, list[float]] = {"yolo predict": [], "datayard predict": [], "Try it": []}
    stalls: list[float] = []
    for run in range(1, args.runs + 1):
        progress(f"run {run} of {args.runs}", started)
        yolo = [str(bin_dir / "yolo"), "predict", f"model={weights}", f"source={images}"]
        yolo += [f"imgsz={SIZE}", f"conf={CONF}", "device=cpu", "save=False", "verbose=False"]
        walls["yolo predict"].append(launcher.measure(yolo, env, log, cwd=work).wall)
        out = work / f"predicted-{run}"
        datayard = [str(bin_dir / "datayard"), "predict", str(weights), str(images)]
        datayard += ["--out", str(out), "--conf", CONF, "--imgsz", str(SIZE)]
        walls["datayard predict"].append(launcher.measure(datayard, env, log).wall)
        result = work / f"try-it-{run}.json"
        child = [sys.executable, __file__, "--child", str(weights), str(images), str(result)]
        launcher.measure(child, env, log)
        figures = json.loads(result.read_text())
        assert figures["images"] == args.images, figures
        walls["Try it"].append(figures["wall"])
        stalls.append(figures["stall_ms"])
    launcher.close()

    peer = statistics.median(walls["yolo predict"])
    print(f"\n{args.images} images of {SIZE} px, yolo11n on the CPU, median of {args.runs} runs")
    print("| tool | wall | images/s | vs yolo predict |")
    print("|---|---|---|---|")
    for tool, samples in walls.items():
        wall = statistics.median(samples)
        print(f"| {tool} | {wall:.2f} s | {args.images / wall:.1f} | {peer / wall:.2f} |")
    stall = max(stalls)
    print(f"\nTry it: the window's longest stall while predicting, {stall:.0f} ms (worst run)")
    finish(work, args.keep, started)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_try_it(*sys.argv[2:5])
    else:
        main()
