"""The floor under Datayard's transfers: files up and down through obstore alone.

    python raw_obstore.py up FOLDER BUCKET     # read + sha256 + PUT as blobs/sha256/..
    python raw_obstore.py down BUCKET FOLDER   # GET every blob + sha256 check + write

``bench_push.py`` runs it as a reference row: the same client Datayard sends
small files with, with nothing around it (no scan, check, journal, lock or
manifest), in a pool of ``BENCH_WORKERS`` threads (32). The endpoint comes
from ``BENCH_ENDPOINT``, the credentials from ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import obstore
from obstore.store import S3Store


def store(bucket: str) -> S3Store:
    return S3Store(
        bucket,
        endpoint=os.environ["BENCH_ENDPOINT"],
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True, "pool_max_idle_per_host": "64"},
    )


def up(folder: Path, bucket: str, workers: int) -> None:
    target = store(bucket)

    def send(path: Path) -> None:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        obstore.put(target, f"blobs/sha256/{sha[:2]}/{sha}", data, use_multipart=False)

    files = [path for path in folder.rglob("*") if path.is_file()]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, files))


def down(bucket: str, folder: Path, workers: int) -> None:
    source = store(bucket)
    keys = [item["path"] for batch in obstore.list(source, "blobs/") for item in batch]

    def fetch(key: str) -> None:
        data = obstore.get(source, key).bytes()
        name = key.rsplit("/", 1)[1]
        if hashlib.sha256(data).hexdigest() != name:
            raise SystemExit(f"{key} is damaged")
        (folder / name).write_bytes(data)

    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fetch, keys))


if __name__ == "__main__":
    direction, first, second = sys.argv[1:4]
    threads = int(os.environ.get("BENCH_WORKERS", "32"))
    if direction == "up":
        up(Path(first), second, threads)
    else:
        down(first, Path(second), threads)
