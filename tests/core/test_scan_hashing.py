"""Hashes, the hash cache, progress events and cancellation."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from conftest_scan import label, rewrite_keeping_stat, scan_to_end, sha256, touch

from datayard.core.drive.inventory import FileKind
from datayard.core.drive.scan import PHASE_HASHING, PHASE_SCANNING, HashCache, hashing, scan
from datayard.core.drive.scan.hash_cache import CacheKey
from datayard.core.events import Cancelled, CancelToken, Finished, Progress


def test_hashes_and_class_ids(tmp_path: Path) -> None:
    touch(tmp_path, "a.jpg", content=os.urandom(3 << 20))  # several 1 MiB buffers
    label(tmp_path, "a.txt", 3, 1)
    touch(tmp_path, "video.mp4", content=b"not read")

    files = {entry.rel: entry for entry in scan_to_end(tmp_path, workers=2).files}

    assert files["a.jpg"].sha256 == sha256(tmp_path / "a.jpg")
    assert files["a.txt"].sha256 == sha256(tmp_path / "a.txt")
    assert files["a.txt"].class_ids == (3, 1)
    assert files["video.mp4"].kind is FileKind.OTHER
    assert files["video.mp4"].sha256 is None, "files outside any dataset are not read"


def test_without_hashing_only_labels_are_read(tmp_path: Path) -> None:
    touch(tmp_path, "a.jpg")
    label(tmp_path, "a.txt", 0)
    files = {entry.rel: entry for entry in scan_to_end(tmp_path, hash_files=False).files}
    assert files["a.jpg"].sha256 is None
    assert files["a.txt"].class_ids == (0,)


def test_second_scan_of_an_unchanged_tree_reads_no_content(tmp_path: Path) -> None:
    tree, database = tmp_path / "tree", tmp_path / "cache.sqlite3"
    touch(tree, "a.jpg", content=b"AAAA")
    label(tree, "a.txt", 1)
    first = {entry.rel: entry for entry in scan_to_end(tree, database).files}

    rewrite_keeping_stat(tree / "a.jpg", b"BBBB")
    rewrite_keeping_stat(tree / "a.txt", b"2" + (tree / "a.txt").read_bytes()[1:])
    second = {entry.rel: entry for entry in scan_to_end(tree, database).files}

    assert second == first, "had a file been read, its new content would show"

    os.utime(tree / "a.jpg", ns=(0, 10**9))
    third = {entry.rel: entry for entry in scan_to_end(tree, database).files}
    assert third["a.jpg"].sha256 == sha256(tree / "a.jpg") != first["a.jpg"].sha256
    assert third["a.txt"] == first["a.txt"]


def test_progress_phases_and_result(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    touch(tree, "a/1.jpg", content=b"x" * 100)
    touch(tree, "a/2.jpg", content=b"y" * 50)

    events = list(scan(tree, database=tmp_path / "db.sqlite3"))

    progress = [event for event in events if isinstance(event, Progress)]
    assert {event.phase for event in progress} == {PHASE_SCANNING, PHASE_HASHING}
    assert all(event.total is None for event in progress if event.phase == PHASE_SCANNING)
    hashing = [event for event in progress if event.phase == PHASE_HASHING]
    assert hashing[0].done == 0
    assert {(event.total, event.bytes_total) for event in hashing} == {(2, 150)}
    assert (hashing[-1].done, hashing[-1].bytes_done) == (2, 150)
    assert progress == sorted(progress, key=lambda event: event.phase != PHASE_SCANNING)
    assert isinstance(events[-1], Finished)
    assert len(events[-1].result.files) == 2


def test_cancel_keeps_the_hashes_done_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree, database = tmp_path / "tree", tmp_path / "cache.sqlite3"
    for index in range(300):  # several chunks of files
        touch(tree, f"img/{index:03d}.jpg", content=os.urandom(64))
    cancel = CancelToken()
    read_content, read = hashing.read_content, 0

    def cancelled_after_ten(job: hashing.Job, token: CancelToken | None = None) -> object:
        nonlocal read
        read += 1
        if read == 10:
            cancel.set()  # as the user would, while the tenth file is read
        return read_content(job, token)

    monkeypatch.setattr(hashing, "read_content", cancelled_after_ten)
    with pytest.raises(Cancelled):
        for _ in scan(tree, database=database, workers=1, cancel=cancel):
            pass

    keys = [
        CacheKey(str(path), path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted((tree / "img").iterdir())
    ]
    with HashCache(database) as cache:
        saved = cache.lookup(keys)
    assert 1 <= len(saved) < len(keys), "stopped early, and kept what it had"
    for key, content in saved.items():
        assert content.sha256 == sha256(Path(key.path))


def test_cancel_during_the_walk(tmp_path: Path) -> None:
    touch(tmp_path, "a/x.jpg")
    cancel = CancelToken()
    cancel.set()
    with pytest.raises(Cancelled):
        list(scan(tmp_path, database=None, cancel=cancel))


def test_workers_must_be_positive(tmp_path: Path) -> None:
    from datayard.core.errors import UsageError

    with pytest.raises(UsageError):
        next(scan(tmp_path, workers=0))


def test_class_ids_cached_under_older_label_rules_are_read_again(tmp_path: Path) -> None:
    tree, database = tmp_path / "tree", tmp_path / "cache.sqlite3"
    touch(tree, "a.txt", content=b"1.0 .5 .5 .1 .1\n2 .1 .1 .2 .2 .3")
    touch(tree, "a.jpg", content=b"AAAA")
    label_file, image = (
        CacheKey(str(tree / name), (tree / name).stat().st_size, (tree / name).stat().st_mtime_ns)
        for name in ("a.txt", "a.jpg")
    )
    # The table as a Datayard with other label rules left it: that one counted class 2.
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE scan_cache (path BLOB PRIMARY KEY, size INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, class_ids TEXT) WITHOUT ROWID"
        )
        connection.executemany(
            "INSERT INTO scan_cache VALUES (?, ?, ?, ?, ?)",
            [
                (os.fsencode(label_file.path), *label_file[1:], sha256(tree / "a.txt"), "2"),
                (os.fsencode(image.path), *image[1:], "cached image hash", None),
            ],
        )
    connection.close()

    files = {entry.rel: entry for entry in scan_to_end(tree, database).files}

    assert files["a.txt"].class_ids == (1,)
    assert files["a.jpg"].sha256 == "cached image hash", "an image's hash does not depend on them"
