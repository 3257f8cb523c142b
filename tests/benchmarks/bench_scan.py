"""Scan side by side with ``find`` and ``sha256sum``, measured in one run.

    .venv/bin/python tests/benchmarks/bench_scan.py [--files 100000] [--hash-gib 2] [--keep DIR]

Builds a tree of small files (images and labels in ~1,000 folders) and a set of
large files in a temporary folder, then prints a table of timings and ratios:
the walk against ``find PATH -type f``, cold (page cache dropped, when this
process may) and warm; a rescan answered by the hash cache; hashing against
``sha256sum``; and the peak memory of a scan. Each scan runs in a fresh child
process, so its peak RSS is its own and imports are not shared between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES_PER_FOLDER = 100
LARGE_FILE = 16 << 20


def build_small_tree(root: Path, files: int) -> None:
    """Images and their labels, in folders of 100, under images/ and labels/ splits."""
    for index in range(files // 2):
        folder = index // (FILES_PER_FOLDER // 2)
        split = ("train", "val", "test")[folder % 3]
        stem = f"{folder:04d}/img_{index:06d}"
        image = root / "images" / split / f"{stem}.jpg"
        label = root / "labels" / split / f"{stem}.txt"
        if index % (FILES_PER_FOLDER // 2) == 0:
            image.parent.mkdir(parents=True)
            label.parent.mkdir(parents=True)
        image.write_bytes(os.urandom(256))
        label.write_text(f"{index % 5} 0.5 0.5 0.2 0.2\n{(index + 1) % 5} 0.3 0.3 0.1 0.1\n")


def build_large_files(root: Path, gib: float) -> None:
    root.mkdir(parents=True)
    block = os.urandom(LARGE_FILE)
    for index in range(int(gib * (1 << 30)) // LARGE_FILE):
        (root / f"frame_{index:04d}.png").write_bytes(block[index:] + block[:index])


def drop_caches() -> bool:
    """Drop the page cache (needs root); False when this process may not."""
    subprocess.run(["sync"], check=True)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def scan_child(path: str, database: str | None, hash_files: bool) -> dict[str, float]:
    """Run one scan in a child process; its timings and peak RSS come back as JSON."""
    command = [sys.executable, __file__, "--child", path, "--hash" if hash_files else "--no-hash"]
    if database:
        command += ["--database", database]
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout)
    result["process_s"] = time.perf_counter() - start
    return result


def child(path: str, database: str | None, hash_files: bool) -> None:
    from datayard.core.drive.scan import PHASE_SCANNING, scan
    from datayard.core.events import Finished, Progress

    start = time.perf_counter()
    walked = 0.0
    files = 0
    for event in scan(
        Path(path), database=Path(database) if database else None, hash_files=hash_files
    ):
        if isinstance(event, Progress) and event.phase == PHASE_SCANNING:
            walked = time.perf_counter() - start
        elif isinstance(event, Finished):
            files = len(event.result.files)
    total = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"walk_s": walked, "scan_s": total, "files": files, "rss_mib": rss_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--hash-gib", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the trees here and keep them")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--hash", action=argparse.BooleanOptionalAction, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.database, bool(arguments.hash))
        return

    work = arguments.keep or Path(tempfile.mkdtemp(prefix="datayard-bench-"))
    small, large, database = work / "small", work / "large", work / "cache.sqlite3"
    try:
        if not small.exists():
            build_small_tree(small, arguments.files)
        if not large.exists():
            build_large_files(large, arguments.hash_gib)
        database.unlink(missing_ok=True)
        cold = drop_caches()
        rows = measure(small, large, database, cold)
    finally:
        if not arguments.keep:
            shutil.rmtree(work)
    report(rows, cold)


def measure(
    small: Path, large: Path, database: Path, cold: bool
) -> dict[str, tuple[float, float] | None]:
    rows: dict[str, tuple[float, float] | None] = {}
    if cold:
        find_cold = timed(["find", str(small), "-type", "f"])
        drop_caches()
        # -printf stats every file, as a scan must: the like-for-like peer.
        stat_cold = timed(["find", str(small), "-type", "f", "-printf", "%s %T@\n"])
        drop_caches()
        scan_cold = scan_child(str(small), None, hash_files=False)
        rows["walk 100k files, cold: find / scan walk"] = (find_cold, scan_cold["walk_s"])
        rows["  cold: find -printf size+mtime / scan walk"] = (stat_cold, scan_cold["walk_s"])
        rows["  cold: find / --no-hash scan process"] = (find_cold, scan_cold["process_s"])
    find_warm = min(timed(["find", str(small), "-type", "f"]) for _ in range(3))
    scan_warm = scan_child(str(small), None, hash_files=False)
    rows["walk 100k files, warm: find / scan walk"] = (find_warm, scan_warm["walk_s"])
    rows["  same, --no-hash scan (reads labels)"] = (find_warm, scan_warm["scan_s"])
    first = scan_child(str(small), str(database), hash_files=True)
    rescan = scan_child(str(small), str(database), hash_files=True)
    rows["100k: first hashed scan / cached rescan"] = (first["scan_s"], rescan["scan_s"])
    rows["  cached rescan, whole process (target < 1 s)"] = (
        rescan["process_s"],
        rescan["process_s"],
    )
    large_files = sorted(str(path) for path in large.iterdir())
    timed(["cat", *large_files])  # both read from the page cache
    sha256sum = timed(["sha256sum", *large_files])
    hashed = scan_child(str(large), None, hash_files=True)
    rows[f"hash {len(large_files) * LARGE_FILE >> 20} MiB: sha256sum / scan"] = (
        sha256sum,
        hashed["scan_s"],
    )
    rss = max(scan_warm["rss_mib"], first["rss_mib"], rescan["rss_mib"])
    rows[f"peak RSS of a 100k scan: {rss:.0f} MiB (target < 300)"] = None
    return rows


def report(rows: dict[str, tuple[float, float] | None], cold: bool) -> None:
    print(f"{'measure':52} {'peer/first s':>12} {'datayard s':>10} {'ratio':>7}")
    for name, values in rows.items():
        if values is None:
            print(name)
            continue
        peer, ours = values
        print(f"{name:52} {peer:12.3f} {ours:10.3f} {ours / peer:7.2f}")
    if not cold:
        print("warm only: the page cache could not be dropped (needs root)")
    print(f"cores: {os.cpu_count()}; ratio = datayard / peer (below 1: datayard is faster)")


if __name__ == "__main__":
    main()
