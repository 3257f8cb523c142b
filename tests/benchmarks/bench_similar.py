"""Comparing images by their looks, on many images, beside the usual script, in one run.

    .venv/bin/python tests/benchmarks/bench_similar.py [--images 100000] [--peer 5000] [--keep DIR]

Builds a YOLO set of JPEG photos of 640x480 pixels in train and val (smooth
random scenes; 1% of the val images are resized, re-encoded copies of train
images), then measures in this process, with a fresh local database:

- the check without comparing (what a push runs), which fills the check cache;
- the check comparing, cold: every image decoded for its fingerprints;
- the same again, warm: the fingerprints come from the cache.

The peer is what a data scientist writes with ``imagehash``: ``phash`` of each
image opened whole, on ``--peer`` of the images; its time per image is set
against the cold fingerprints' and printed as a ratio. Last, it reports how
many of the planted copies the check found, and what else.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

SIZE = (640, 480)
COPY_EVERY = 100
"""One val image in this many is a copy of a train image."""


def photo(seed: int) -> Image.Image:
    """A smooth random scene: blocks of colour blended into each other, like a photo at
    the hash's scale."""
    rng = random.Random(seed)
    blocks = Image.new("RGB", (16, 12))
    blocks.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(16 * 12)])
    return blocks.resize(SIZE, Image.Resampling.BICUBIC)


def write_images(args: tuple[Path, int, int]) -> None:
    root, start, stop = args
    for index in range(start, stop):
        split = "val" if index % 5 == 0 else "train"
        folder = f"{index // 1000:03d}"
        image = root / "images" / split / folder / f"img_{index:06d}.jpg"
        label = root / "labels" / split / folder / f"img_{index:06d}.txt"
        image.parent.mkdir(parents=True, exist_ok=True)
        label.parent.mkdir(parents=True, exist_ok=True)
        if split == "val" and index % (5 * COPY_EVERY) == 0:
            picture = photo(index + 1).resize((480, 360))  # a copy of the next (train) image
            picture.save(image, "JPEG", quality=60)
        else:
            photo(index).save(image, "JPEG", quality=85)
        label.write_text(f"{index % 3} 0.5 0.5 0.2 0.2\n")


def build(root: Path, images: int) -> None:
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [a, b, c]\n")
    step = 2000
    chunks = [(root, start, min(start + step, images)) for start in range(0, images, step)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(write_images, chunks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--peer", type=int, default=5_000)
    parser.add_argument("--keep", type=Path, help="build the images here once, and keep them")
    parser.add_argument("--build-only", action="store_true", help="build --keep DIR and stop")
    args = parser.parse_args()

    from datayard.core.drive.check import CheckReport, FindingKind, check
    from datayard.core.drive.inventory import Inventory
    from datayard.core.drive.scan import scan
    from datayard.core.events import run_to_end

    work = Path(tempfile.mkdtemp(prefix="bench-similar-"))
    root = args.keep or work / "set"
    if not (root / "data.yaml").exists():
        started = time.perf_counter()
        build(root, args.images)
        print(f"built {args.images:,} images in {time.perf_counter() - started:.0f} s")
    if args.build_only:
        return
    database = work / "state.sqlite"
    try:
        inventory = run_to_end(scan(root, database=database), Inventory)
        images = sum(len(dataset.items) for dataset in inventory.sets)

        def timed(similar: bool) -> tuple[float, CheckReport]:
            started = time.perf_counter()
            report = run_to_end(check(inventory, database=database, similar=similar), CheckReport)
            return time.perf_counter() - started, report

        plain, _ = timed(False)
        cold, report = timed(True)
        warm, _ = timed(True)
        peer = peer_seconds(root, args.peer)
        fingerprints = (cold - plain) / images
        print(f"\n{images:,} images of {SIZE[0]}x{SIZE[1]} pixels, {os.cpu_count()} cores")
        print(f"  check, not comparing (a push's):        {plain:7.2f} s")
        print(f"  check comparing, cold:                  {cold:7.2f} s")
        print(f"  check comparing, warm:                  {warm:7.2f} s")
        print(f"  fingerprints, per image:                {fingerprints * 1000:7.2f} ms")
        print(f"  imagehash.phash, per image ({args.peer:,}):    {peer * 1000:7.2f} ms")
        print(f"  ratio (imagehash / Datayard):           {peer / fingerprints:7.2f}")
        (leak,) = report.of_kind(FindingKind.LEAKY_SPLITS) or (None,)
        planted = len(range(0, args.images, 5 * COPY_EVERY))
        found = len(leak.pairs) if leak is not None else 0
        clusters = report.of_kind(FindingKind.NEAR_DUPLICATES)
        print(f"  planted copies across splits found:     {found} of {planted}")
        print(f"  clusters within a split:                {len(clusters)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def peer_seconds(root: Path, count: int) -> float:
    """Seconds per image of ``imagehash.phash`` on whole images, in as many threads."""
    import imagehash

    paths = sorted((root / "images").rglob("*.jpg"))[:count]

    def one(path: Path) -> imagehash.ImageHash:
        with Image.open(path) as image:
            return imagehash.phash(image)

    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(one, paths))
    return (time.perf_counter() - started) / len(paths)


if __name__ == "__main__":
    main()
