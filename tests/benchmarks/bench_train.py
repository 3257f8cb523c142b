"""``datayard train`` against plain ``yolo train`` on the same data and arguments, in one run.

    .venv/bin/python tests/benchmarks/bench_train.py [--train 200] [--val 50] [--epochs 3]
        [--rounds 3] [--keep DIR]

Why a script and not a test: the overhead only means something side by side,
on the same machine, data and arguments, and the run takes minutes.
Everything runs on this machine: a SeaweedFS server on 127.0.0.1 (Datayard's
embedded store, in a temporary folder, with generated credentials) and a
private Secret Service (D-Bus + GNOME Keyring), because the training worker
reads its profile's secret from the OS keyring. Datayard's settings, caches,
runs and the dataset it pulls live in a temporary XDG home, and Ultralytics'
settings in a temporary config folder, so the user's own are never touched.

A dataset of small JPEGs (128x128 px, one red square or blue disc each, with
its YOLO label) is published to a fresh bucket. ``datayard train`` runs once
as a warm-up, which also pulls the dataset into Datayard's cache; ``yolo
train`` then trains on exactly that pulled copy (the ``data.yaml`` the worker
used), with the same arguments and the same offline environment as the
worker. Then each round runs both, alternately.

Every command runs as a child process of a small launcher; wall time, CPU
seconds and peak RSS are that child's own with its descendants' (``os.wait4``;
the training worker is a child of ``datayard train``, and the launcher is a
child subreaper, so a worker that outlives its command is counted too).
``datayard train`` still checks the cached dataset against the version
(a pull that downloads nothing): that phase, from the worker's first event to
its last ``preparing`` event (the times in the run's ``events.jsonl``), is
subtracted from its wall time before the overhead is computed:

    overhead = (datayard wall - pull) / yolo wall - 1          (goal: < 5%)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.measure import (
    CommandFailedError,
    Launcher,
    Measured,
    Sample,
    finish,
    private_services,
    progress,
    work_folder,
)

PROFILE = "bench"
OWNER = "bench-owner"
SIDE = 128
GOAL = 0.05
SPEC_KEYS = ("lr0", "lrf", "patience", "optimizer", "seed")
"""Arguments ``datayard train`` always passes: yolo gets the same values, from args.yaml."""


@dataclass
class Row(Measured):
    tool: str
    pulls: list[float] = field(default_factory=list)

    @property
    def pull(self) -> float:
        return statistics.median(self.pulls) if self.pulls else 0.0

    @property
    def net(self) -> float:
        """Median wall time without the dataset check, round by round."""
        pulls = self.pulls or [0.0] * len(self.samples)
        return statistics.median(s.wall - p for s, p in zip(self.samples, pulls, strict=True))


# -- data ----------------------------------------------------------------------------------


def dataset_files(train: int, val: int) -> dict[str, bytes]:
    """The test suite's shapes, scaled to SIDE px (labels are relative: they still hold)."""
    from PIL import Image

    from tests.fixtures.training import shapes_files

    files = shapes_files(train, val)
    for path, data in files.items():
        if path.startswith("images/"):
            image = Image.open(io.BytesIO(data)).resize((SIDE, SIDE), Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=90)
            files[path] = buffer.getvalue()
    return files


def publish_dataset(endpoint: str, access_key: str, secret: str, train: int, val: int) -> str:
    """Publish the dataset to a fresh bucket and register it as the profile "bench"."""
    from datayard.core.settings import Profile
    from datayard.core.store.bucket import Bucket
    from datayard.core.store.s3 import create_bucket
    from datayard.core.store.workspace import Workspace
    from tests.fixtures.datasets import publish
    from tests.fixtures.training import SHAPES

    profile = Profile(name=PROFILE, endpoint=endpoint, bucket="bench-train", access_key=access_key)
    create_bucket(profile, secret)
    bucket = Bucket(profile, secret)
    name = f"shapes-{train}-{val}"
    publish(bucket, f"{OWNER}/{name}", dataset_files(train, val), class_names=SHAPES)
    workspace = Workspace.default()
    workspace.save(workspace.settings().with_profile(profile))
    workspace.secrets.set(PROFILE, secret)
    return f"{OWNER}/{name}"


# -- the benchmark -------------------------------------------------------------------------


class Bench:
    def __init__(self, work: Path, launcher: Launcher, epochs: int) -> None:
        self.work = work
        self.launcher = launcher
        self.epochs = epochs
        self.log = work / "commands.log"
        self.runs = Path(os.environ["XDG_DATA_HOME"]) / "datayard" / "runs"
        bin_dir = Path(sys.executable).parent
        self.datayard = bin_dir / "datayard"
        self.yolo = bin_dir / "yolo"
        base = dict(os.environ)
        base.pop("PYTHONPATH", None)
        self.datayard_env = base
        # The worker's own offline set-up, for yolo: its config folder, fonts, no network.
        from datayard.core.training import offline

        offline.prepare(work / "ultralytics")
        self.yolo_env = dict(os.environ)
        self.yolo_env.pop("PYTHONPATH", None)
        self.yolo_project = work / "yolo"

    def datayard_train(self, ref: str) -> tuple[Sample, Path]:
        before = set(self.runs.iterdir()) if self.runs.is_dir() else set()
        command = [
            str(self.datayard),
            "train",
            ref,
            "--profile",
            PROFILE,
            "--epochs",
            str(self.epochs),
            "--batch",
            "16",
            "--imgsz",
            str(SIDE),
            "--workers",
            "0",
            "--device",
            "cpu",
            "--no-plots",
        ]
        sample = self.launcher.measure(command, self.datayard_env, self.log, cwd=self.work)
        (run,) = set(self.runs.iterdir()) - before
        return sample, run

    def yolo_settings(self) -> None:
        """Ultralytics' settings as the worker sets them (no sync, no loggers)."""
        from datayard.core.training import offline

        pairs = [f"{key}={value}" for key, value in offline.SETTINGS.items()]
        self.launcher.measure(
            [str(self.yolo), "settings", *pairs], self.yolo_env, self.log, cwd=self.work
        )

    def yolo_train(self, data: Path, spec: dict[str, Any], name: str) -> Sample:
        arguments = {
            "data": str(data),
            "model": "yolo11n.yaml",
            "epochs": self.epochs,
            "batch": 16,
            "imgsz": SIDE,
            "workers": 0,
            "device": "cpu",
            "plots": False,
            **spec,
            "project": str(self.yolo_project),
            "name": name,
            "exist_ok": True,
        }
        command = [str(self.yolo), "train", *(f"{k}={v}" for k, v in arguments.items())]
        return self.launcher.measure(command, self.yolo_env, self.log, cwd=self.work)


def events(run: Path) -> list[dict[str, Any]]:
    lines = (run / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def phases(run: Path, sample: Sample) -> dict[str, float]:
    """Seconds from the worker's first event to its last ``preparing`` one, and more."""
    found = events(run)
    if not found or found[-1]["type"] != "finished":
        last = found[-1] if found else {}
        raise CommandFailedError(f"run {run.name} did not finish: {last}")
    first = found[0]["time"]
    preparing = [e["time"] for e in found if e["type"] == "preparing"]
    setup = next(e["time"] for e in found if e["type"] == "setup")
    return {
        "pull": (max(preparing) - first) if preparing else 0.0,
        "first_event": first - sample.started,
        "setup": setup - sample.started,
        "end": found[-1]["time"] - sample.started,
    }


def train_args(run: Path) -> tuple[Path, dict[str, Any]]:
    """The pulled dataset's data.yaml, and the spec's arguments as Ultralytics got them."""
    import yaml

    args = yaml.safe_load((run / "train" / "args.yaml").read_text(encoding="utf-8"))
    return Path(args["data"]), {key: args[key] for key in SPEC_KEYS if key in args}


def report(datayard: Row, yolo: Row) -> None:
    print()
    header = (
        f"{'tool':16} {'wall s':>8} {'CPU s':>8} {'RSS MiB':>8} {'pull s':>7} "
        f"{'net wall s':>10} {'overhead':>9}  goal"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{'yolo train':16} {yolo.wall:8.2f} {yolo.cpu:8.2f} {yolo.rss_mib:8.0f} "
        f"{'-':>7} {yolo.wall:10.2f} {'':>9}"
    )
    overhead = datayard.net / yolo.wall - 1
    verdict = "ok" if overhead < GOAL else "MISSED"
    print(
        f"{'datayard train':16} {datayard.wall:8.2f} {datayard.cpu:8.2f} "
        f"{datayard.rss_mib:8.0f} {datayard.pull:7.2f} {datayard.net:10.2f} "
        f"{overhead:8.1%}  < {GOAL:.0%} ({verdict})"
    )
    best = min(s.wall - p for s, p in zip(datayard.samples, datayard.pulls, strict=True))
    fastest = min(s.wall for s in yolo.samples)
    print(
        f"{'(best rounds)':16} yolo {fastest:.2f} s, datayard net {best:.2f} s: "
        f"overhead {best / fastest - 1:.1%}"
    )
    print(
        f"\nmedians of {len(yolo.samples)} rounds; cores: {os.cpu_count()}; RSS: the peak "
        "over the rounds, of the command and its descendants (the worker for datayard);\n"
        "overhead = (datayard wall - pull) / yolo wall - 1, pull = the worker's first event "
        "to its last 'preparing' event."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--train", type=int, default=200, help="training images")
    parser.add_argument("--val", type=int, default=50, help="validation images")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tool (median)")
    parser.add_argument("--keep", type=Path, help="work in a new folder under DIR and keep it")
    arguments = parser.parse_args()
    if arguments.train < 1 or arguments.val < 1 or arguments.rounds < 1:
        parser.error("--train, --val and --rounds must be at least 1")
    launcher = Launcher()  # first, while this process is still small

    work = work_folder(arguments.keep, "datayard-bench-train-")

    started = time.perf_counter()
    services = ExitStack()
    datayard, yolo = Row("datayard train"), Row("yolo train")
    details: list[str] = []
    try:
        # The worker reads the profile's secret from the OS keyring: a private one.
        server = private_services(work, services)
        progress(f"publishing {arguments.train} + {arguments.val} images", started)
        ref = publish_dataset(
            server.endpoint, server.access_key, server.secret, arguments.train, arguments.val
        )
        bench = Bench(work, launcher, arguments.epochs)

        progress("warm-up: datayard train (pulls the dataset)", started)
        sample, run = bench.datayard_train(ref)
        first = phases(run, sample)
        details.append(
            f"warm-up datayard: wall {sample.wall:.2f} s, pull {first['pull']:.2f} s "
            f"(downloads the dataset)"
        )
        data, spec = train_args(run)
        bench.yolo_settings()
        progress("warm-up: yolo train", started)
        bench.yolo_train(data, spec, "warm-up")

        for index in range(1, arguments.rounds + 1):
            progress(f"round {index}/{arguments.rounds}: datayard train", started)
            sample, run = bench.datayard_train(ref)
            times = phases(run, sample)
            datayard.samples.append(sample)
            datayard.pulls.append(times["pull"])
            progress(f"round {index}/{arguments.rounds}: yolo train", started)
            peer = bench.yolo_train(data, spec, f"r{index}")
            yolo.samples.append(peer)
            details.append(
                f"round {index}: datayard wall {sample.wall:6.2f} s  CPU {sample.cpu:6.2f} s  "
                f"pull {times['pull']:5.2f} s  first event +{times['first_event']:.2f} s  "
                f"setup +{times['setup']:.2f} s  last event +{times['end']:.2f} s  "
                f"exit +{sample.wall:.2f} s"
                + (f"  ({sample.orphans} orphan(s) reaped)" if sample.orphans else "")
                + f"\n         yolo     wall {peer.wall:6.2f} s  CPU {peer.cpu:6.2f} s"
                + (f"  ({peer.orphans} orphan(s) reaped)" if peer.orphans else "")
            )
    except CommandFailedError as error:
        sys.exit(f"failed: {error}\n(log: {work / 'commands.log'})")
    finally:
        services.close()
        launcher.close()
        print(
            f"\n{arguments.train} train + {arguments.val} val images of {SIDE} px, "
            f"{arguments.epochs} epochs, batch 16, imgsz {SIDE}, workers 0, cpu, no plots"
        )
        print("\n".join(details))
        if yolo.samples and len(datayard.samples) == len(yolo.samples):
            report(datayard, yolo)
        finish(work, arguments.keep, started)


if __name__ == "__main__":
    main()
