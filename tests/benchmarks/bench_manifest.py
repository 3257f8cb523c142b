"""Parsing a large manifest: what every ``show``, ``pull``, ``verify`` and listing pays.

    .venv/bin/python tests/benchmarks/bench_manifest.py [--files 100000] [--rounds 7]

Builds a manifest of images and labels in the layout push writes (labels with
their class ids), encodes it once, then parses it ``--rounds`` times in this
process and prints the median and best wall and CPU seconds, with the size of
the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time

from datayard.core.datasets.manifest import Manifest, ManifestFile, Role


def build(files: int) -> Manifest:
    """Half images, half labels, in folders of 100 over three splits."""
    entries = []
    for index in range(files // 2):
        split = ("train", "val", "test")[index % 3]
        stem = f"{index // 50:04d}/img_{index:06d}"
        for role, path, ids in (
            (Role.IMAGE, f"images/{split}/{stem}.jpg", None),
            (Role.LABEL, f"labels/{split}/{stem}.txt", (index % 5, (index + 1) % 5)),
        ):
            entries.append(
                ManifestFile(
                    path=path,
                    size=1000 + index,
                    sha256=hashlib.sha256(path.encode()).hexdigest(),
                    content_type="text/plain" if ids else "image/jpeg",
                    split=split,
                    role=role,
                    source=f"/share/lab/cats/{path}",
                    class_ids=ids,
                )
            )
    return Manifest(
        id="20260101T000000Z-0123abcd",
        owner="alice",
        name="cats",
        created="2026-01-01T00:00:00+00:00",
        pushed_by="alice@lab-pc",
        source_host="lab-pc",
        source_paths=("/share/lab/cats",),
        class_names=tuple(f"class{i}" for i in range(5)),
        files=tuple(entries),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    raw = build(args.files).to_json()
    key = "datasets/alice/cats/versions/20260101T000000Z-0123abcd.json"
    walls, cpus = [], []
    for _ in range(args.rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        parsed = Manifest.from_json(raw, key)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert len(parsed.files) == args.files
    print(
        f"{args.files} files, {len(raw) / 1e6:.1f} MB of JSON, {args.rounds} rounds: "
        f"wall median {statistics.median(walls):.3f} s (best {min(walls):.3f} s), "
        f"CPU median {statistics.median(cpus):.3f} s (best {min(cpus):.3f} s)"
    )


if __name__ == "__main__":
    main()
