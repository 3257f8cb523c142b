"""Pull against a real SeaweedFS: exact files, resume, corruption, cancel, disk full."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from datayard.core.datasets import pull as pull_module
from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.pull import (
    LOCK_NAME,
    PART_SUFFIX,
    DestinationError,
    PullResult,
    pull,
)
from datayard.core.drive.inventory import Inventory
from datayard.core.drive.scan import scan
from datayard.core.drive.scan.hash_cache import CacheKey, Content, HashCache
from datayard.core.errors import InvalidStoreObjectError, UsageError
from datayard.core.events import Cancelled, CancelToken, FileFailed, Transfer, run_to_end
from datayard.core.store.bulk import WHOLE_LIMIT
from datayard.core.store.layout import blob_key, version_key
from tests.fixtures.datasets import add_profile, fresh_bucket, noise, publish, run_cli, sample_files
from tests.fixtures.services import S3Server, datayard_command
from tests.fixtures.store_proxy import StoreProxy


def pulled_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except the ones pull writes for itself."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.name != "data.yaml"
    }


def leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob(f"*{PART_SUFFIX}")]


def test_pull_writes_the_exact_files_and_a_data_yaml(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    files = sample_files()
    manifest = publish(bucket, "alice/cats", files)
    dest = tmp_path / "cats"

    events = list(pull(bucket, manifest, dest, workers=4))
    result = run_to_end(events, PullResult)

    assert pulled_files(dest) == files
    assert (result.downloaded, result.skipped, result.failures) == (len(files), 0, ())
    assert result.downloaded_bytes == sum(len(data) for data in files.values())
    last = [e for e in events if isinstance(e, Transfer)][-1]
    assert (last.phase, last.files_done, last.files_total) == ("pulling", len(files), len(files))
    assert last.bytes_done == last.bytes_total == result.downloaded_bytes
    data = yaml.safe_load((dest / "data.yaml").read_text())
    assert data == {
        "path": str(dest.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": {0: "cat", 1: "dog"},
    }
    assert leftovers(dest) == []


def test_a_version_without_val_validates_on_train(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    files = {p: d for p, d in sample_files().items() if "/val/" not in p}
    files["images/test/t.jpg"] = noise(100, seed=9)
    manifest = publish(bucket, "alice/noval", files, class_names=("a", "b", "c"))

    result = run_to_end(pull(bucket, manifest, tmp_path / "d"), PullResult)

    data = yaml.safe_load(result.data_yaml.read_text())
    assert (data["train"], data["val"], data["test"]) == (
        "images/train",
        "images/train",
        "images/test",
    )
    assert data["names"] == {0: "a", 1: "b", 2: "c"}


def test_pull_again_fetches_only_what_is_missing_or_wrong(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    files = sample_files()
    manifest = publish(bucket, "alice/cats", files)
    dest, database = tmp_path / "cats", tmp_path / "state.sqlite3"
    run_to_end(pull(bucket, manifest, dest, database=database), PullResult)

    corrupted = dest / "images/train/x1.jpg"
    corrupted.write_bytes(bytes(len(files["images/train/x1.jpg"])))  # same size, other bytes
    stat = corrupted.stat()  # timestamps can be coarser than this test is fast
    os.utime(corrupted, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    (dest / "labels/train/cat2.txt").unlink()
    (dest / "images/train/notes.md").write_text("mine")

    result = run_to_end(pull(bucket, manifest, dest, database=database), PullResult)

    assert (result.downloaded, result.skipped) == (2, len(files) - 2)
    assert result.downloaded_bytes == len(files["images/train/x1.jpg"]) + len(
        files["labels/train/cat2.txt"]
    )
    assert result.extra_files == 1
    assert (dest / "images/train/notes.md").read_text() == "mine"
    assert pulled_files(dest) == {**files, "images/train/notes.md": b"mine"}

    again = run_to_end(pull(bucket, manifest, dest, database=database), PullResult)
    assert (again.downloaded, again.skipped) == (0, len(files))


def test_the_cache_vouches_only_for_files_already_flushed_to_the_disk(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Files are written without an fsync each, and made durable together: a file the
    # cache vouches for must be on the disk, or a power cut could leave a damaged file
    # that the next pull keeps as proven.
    bucket = fresh_bucket(s3_server)
    files = sample_files()
    manifest = publish(bucket, "alice/cats", files)
    dest, database = tmp_path / "cats", tmp_path / "state.sqlite3"
    events: list[tuple[str, int]] = []
    flush, store = pull_module.flush_to_disk, HashCache.store

    def flushing(folder: Path) -> None:
        events.append(("flush", len(list(folder.rglob("*.jpg")))))
        flush(folder)

    def storing(cache: HashCache, found: list[tuple[CacheKey, Content]]) -> None:
        events.append(("vouch", len(found)))
        store(cache, found)

    monkeypatch.setattr(pull_module, "flush_to_disk", flushing)
    monkeypatch.setattr(HashCache, "store", storing)
    monkeypatch.setattr(pull_module, "_CACHE_BATCH", 2)
    run_to_end(pull(bucket, manifest, dest, database=database), PullResult)

    images = sum(1 for path in files if path.endswith(".jpg"))
    vouched = [n for kind, n in events if kind == "vouch"]
    assert sum(vouched) == len(files) and len(vouched) > 1  # in batches
    for index, (kind, _) in enumerate(events):
        if kind == "vouch":
            assert events[index - 1][0] == "flush"  # every batch right after a flush
    assert events[-2] == ("flush", images)


def test_the_scan_cache_learns_class_ids_from_the_labels_not_the_manifest(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    label = "labels/train/cat1.txt"
    files = {**sample_files(), label: b"1.0 .5 .5 .1 .1\n2 .1 .1 .2 .2 .3\n"}
    published = publish(bucket, "alice/cats", files)
    # The ids a Datayard with other label rules recorded for that label.
    manifest = replace(
        published,
        files=tuple(
            replace(file, class_ids=(2,)) if file.path == label else file
            for file in published.files
        ),
    )
    dest, database = tmp_path / "cats", tmp_path / "state.sqlite3"

    def scanned_class_ids() -> tuple[int, ...] | None:
        inventory = run_to_end(scan(dest, database=database), Inventory)
        return next(entry for entry in inventory.files if entry.rel == label).class_ids

    run_to_end(pull(bucket, manifest, dest, database=database), PullResult)  # downloads it
    assert scanned_class_ids() == (1,)
    database.unlink()
    run_to_end(pull(bucket, manifest, dest, database=database), PullResult)  # finds it there
    assert scanned_class_ids() == (1,)


def test_a_cancelled_pull_leaves_no_partial_file_and_resumes(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = fresh_bucket(s3_server)
    files = sample_files(extra_train=12)
    manifest = publish(bucket, "alice/cats", files)
    dest = tmp_path / "cats"
    cancel = CancelToken()
    fetch_blob = pull_module.fetch_blob

    def cancelled_during_the_second(*args: Any) -> None:
        if pulled_files(dest):
            cancel.set()  # as the user would, as the second file starts to stream in
        fetch_blob(*args)

    monkeypatch.setattr(pull_module, "fetch_blob", cancelled_during_the_second)
    with pytest.raises(Cancelled):
        run_to_end(pull(bucket, manifest, dest, workers=1, cancel=cancel), PullResult)

    present = pulled_files(dest)
    assert len(present) == 1
    assert all(files[path] == data for path, data in present.items())
    assert leftovers(dest) == []
    assert not (dest / "data.yaml").exists()

    result = run_to_end(pull(bucket, manifest, dest, workers=4), PullResult)
    assert (result.downloaded, result.skipped) == (len(files) - len(present), len(present))
    assert pulled_files(dest) == files


def test_a_corrupt_blob_is_a_failure_of_that_file_only(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    files = sample_files()
    manifest = publish(bucket, "alice/cats", files)
    damaged = next(f for f in manifest.files if f.path == "images/train/cat1.png")
    bucket.put_bytes(blob_key(damaged.sha256), b"not the picture")
    dest = tmp_path / "cats"

    events = list(pull(bucket, manifest, dest))
    result = run_to_end(events, PullResult)

    assert [f.path for f in result.failures] == [damaged.path]
    assert "damaged" in result.failures[0].error
    assert [e for e in events if isinstance(e, FileFailed)] == list(result.failures)
    assert result.downloaded == len(files) - 1
    assert not (dest / damaged.path).exists()
    assert leftovers(dest) == []


def test_a_manifest_path_outside_the_folder_is_refused(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    manifest = publish(bucket, "mallory/evil", {"images/train/a.jpg": b"x"})
    key = version_key(manifest.owner, manifest.name, manifest.id)
    evil = replace(manifest, files=(replace(manifest.files[0], path="images/train/../../../x"),))
    bucket.put_bytes(key, evil.to_json())

    with pytest.raises(
        InvalidStoreObjectError, match=r"files\[0\]\.path has an empty, '\.' or '\.\.'"
    ):
        Catalog(bucket).version(DatasetRef("mallory", "evil"))
    assert not (tmp_path / "x").exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB file system, to run out of space for real (needs root to mount)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_stops_the_pull_with_a_clear_message(
    s3_server: S3Server, small_disk: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    files = {f"images/train/big{i}.jpg": noise(40_000, seed=i) for i in range(3)}
    manifest = publish(bucket, "alice/big", files)

    with pytest.raises(DestinationError, match="is full") as raised:
        list(pull(bucket, manifest, small_disk / "big", workers=1))

    assert "run the same pull again" in str(raised.value)
    assert leftovers(small_disk) == []


def test_pull_command(s3_server: S3Server, secret_service: str, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    files = sample_files()
    publish(bucket, "alice/cats", files)
    add_profile(s3_server, bucket)
    dest = tmp_path / "out"

    first = run_cli("pull", "alice/cats", str(dest), "--profile", "lab", "--workers", "3")
    assert first.returncode == 0, first.stderr
    assert f"{len(files)} files downloaded" in first.stdout
    assert pulled_files(dest) == files

    again = run_cli("pull", "alice/cats", str(dest), "--profile", "lab", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["downloaded"] == 0 and report["skipped"] == len(files)
    assert report["failures"] == [] and report["data_yaml"] == str(dest.resolve() / "data.yaml")

    unknown = run_cli("pull", "alice/nothing", str(tmp_path / "x"), "--profile", "lab")
    assert unknown.returncode == 2
    assert "there is no dataset alice/nothing" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert not (tmp_path / "x").exists()


def test_two_pulls_into_one_folder_and_no_lock_file_left(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    manifest = publish(bucket, "alice/cats", sample_files())
    dest = tmp_path / "cats"
    first = pull(bucket, manifest, dest)
    next(first)  # started: it holds the folder

    with pytest.raises(UsageError, match="another pull is writing into"):
        list(pull(bucket, manifest, dest))

    run_to_end(first, PullResult)
    assert not (dest / LOCK_NAME).exists()
    run_to_end(pull(bucket, manifest, dest), PullResult)  # the folder is free again
    assert not (dest / LOCK_NAME).exists()


def test_a_pull_killed_mid_file_leaves_no_file_under_its_name_and_the_next_finishes(
    s3_server: S3Server, secret_service: str, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    """``kill -9`` while a file is half written: the next pull removes what it left. (A
    file is written as it streams only above the size read in one request.)"""
    bucket = fresh_bucket(s3_server)
    big_size = WHOLE_LIMIT + (1 << 20)
    files = {**sample_files(extra_train=2), "images/train/big.jpg": noise(big_size, seed=5)}
    manifest = publish(bucket, "alice/cats", files)
    big = next(f.sha256 for f in manifest.files if f.path == "images/train/big.jpg")
    hold = store_proxy.hold(lambda method, path: method == "GET" and big in path, partial=True)
    add_profile(s3_server, bucket, endpoint=store_proxy.endpoint)
    dest = tmp_path / "cats"
    pulling = subprocess.Popen(
        datayard_command("pull", "alice/cats", str(dest), "--profile", "lab", "--workers", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (hold.holding.is_set() and any(p.stat().st_size for p in leftovers(dest))):
            assert pulling.poll() is None, "the pull ended before the point to interrupt it"
            time.sleep(0.05)  # the pull waits for the rest of the file: a pause between looks
    finally:
        pulling.send_signal(signal.SIGKILL)
        pulling.wait(timeout=30)
        hold.release()
    (part,) = leftovers(dest)
    assert part.parent == dest / "images/train"
    assert 0 < part.stat().st_size < len(files["images/train/big.jpg"])
    assert not (dest / "images/train/big.jpg").exists()
    assert not (dest / "data.yaml").exists()

    again = run_cli("pull", "alice/cats", str(dest), "--profile", "lab")

    assert again.returncode == 0, again.stderr
    assert pulled_files(dest) == files
    assert leftovers(dest) == []
    assert not (dest / LOCK_NAME).exists()
