"""The scan cache's folder rows: what a rescan writes, what it trusts, what it adopts."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from conftest_scan import label, rewrite_keeping_stat, scan_to_end, sha256, touch

from datayard.core.drive.labels import RULES_VERSION
from datayard.core.drive.scan import HashCache
from datayard.core.drive.scan.hash_cache import CacheKey, Content


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    touch(root, "a/1.jpg", "a/2.jpg", "b/1.jpg", "b/clip.mp4")
    label(root, "a/1.txt", 3)
    return root


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


@contextmanager
def rows_written(database: Path) -> Iterator[Callable[[], list[str]]]:
    """The folders whose rows are written meanwhile, as a trigger in the database sees it."""
    with closing(sqlite3.connect(database)) as connection:
        connection.executescript(
            "CREATE TABLE written (folder BLOB);"
            "CREATE TRIGGER record AFTER INSERT ON scan_folders"
            " BEGIN INSERT INTO written VALUES (new.folder); END;"
        )

        def folders() -> list[str]:
            rows = connection.execute("SELECT folder FROM written")
            return sorted(os.fsdecode(folder) for (folder,) in rows)

        yield folders
        connection.executescript("DROP TRIGGER record; DROP TABLE written;")


def test_an_unchanged_rescan_writes_nothing_and_a_change_rewrites_only_its_folder(
    tree: Path, database: Path
) -> None:
    first = scan_to_end(tree, database)

    with rows_written(database) as written:
        assert scan_to_end(tree, database).files == first.files
        assert written() == []

    touch(tree, "b/2.jpg", content=b"new")
    with rows_written(database) as written:
        scan_to_end(tree, database)
        assert written() == [f"{tree}/b"]
    with HashCache(database) as cache:
        assert set(cache.recall(f"{tree}/b")) == {"1.jpg", "2.jpg", "clip.mp4"}


def test_a_folder_row_follows_its_files_added_changed_and_removed(
    tree: Path, database: Path
) -> None:
    scan_to_end(tree, database)
    (tree / "a/2.jpg").unlink()
    touch(tree, "a/3.jpg", content=b"three")
    rewrite_keeping_stat(tree / "a/1.jpg", b"\xff\xd8 IMAGE")  # unseen: the cache vouches
    files = {entry.rel: entry for entry in scan_to_end(tree, database).files}

    with HashCache(database) as cache:
        row = cache.recall(f"{tree}/a")
    assert set(row) == {"1.jpg", "1.txt", "3.jpg"}
    assert row["3.jpg"][2] == sha256(tree / "a/3.jpg") == files["a/3.jpg"].sha256
    assert row["1.txt"][3] == [3]
    assert files["a/1.jpg"].sha256 != sha256(tree / "a/1.jpg"), "read from the row, not the file"
    kept = (tree / "a/1.jpg").stat()
    assert row["1.jpg"][:2] == [kept.st_size, kept.st_mtime_ns]


def test_files_not_read_are_listed_so_their_folder_stays_unchanged(
    tree: Path, database: Path
) -> None:
    """A video is never hashed: listed without a hash, it does not make its folder new."""
    scan_to_end(tree, database)
    with HashCache(database) as cache:
        assert cache.recall(f"{tree}/b")["clip.mp4"][2:] == [None, None]


def test_a_name_that_is_not_utf8_is_cached(tmp_path: Path, database: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    name = os.fsdecode(b"caf\xe9.jpg")
    (root / name).write_bytes(b"\xff\xd8 latin-1")
    first = scan_to_end(root, database)
    rewrite_keeping_stat(root / name, b"\xff\xd8 LATIN-1")
    assert scan_to_end(root, database).files == first.files, "the second scan read nothing"


def test_labels_of_a_row_by_other_label_rules_are_read_again(tree: Path, database: Path) -> None:
    first = {entry.rel: entry for entry in scan_to_end(tree, database).files}
    rewrite_keeping_stat(tree / "a/1.txt", b"4" + (tree / "a/1.txt").read_bytes()[1:])
    rewrite_keeping_stat(tree / "a/1.jpg", b"\xff\xd8 IMAGE")
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE scan_folders SET label_rules = ?", (RULES_VERSION - 1,))

    files = {entry.rel: entry for entry in scan_to_end(tree, database).files}

    assert files["a/1.txt"].class_ids == (4,), "the label was read again"
    assert files["a/1.jpg"] == first["a/1.jpg"], "an image's hash does not depend on them"


def test_a_damaged_row_is_read_again_not_an_error(tree: Path, database: Path) -> None:
    scan_to_end(tree, database)
    rewrite_keeping_stat(tree / "a/1.jpg", b"\xff\xd8 IMAGE")
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE scan_folders SET files = '{not json'")
    files = {entry.rel: entry for entry in scan_to_end(tree, database).files}
    assert files["a/1.jpg"].sha256 == sha256(tree / "a/1.jpg")


def test_rows_of_the_per_file_cache_are_adopted(tree: Path, database: Path) -> None:
    """The cache of an earlier version vouches for what it read: nothing is read again."""
    keys = {
        rel: CacheKey(str(tree / rel), (tree / rel).stat().st_size, (tree / rel).stat().st_mtime_ns)
        for rel in ("a/1.jpg", "a/1.txt")
    }
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.executescript(
            "CREATE TABLE scan_cache (path BLOB PRIMARY KEY, size INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, class_ids TEXT) WITHOUT ROWID;"
            "CREATE TABLE scan_cache_label_rules (one INTEGER PRIMARY KEY, version INTEGER);"
        )
        connection.execute("INSERT INTO scan_cache_label_rules VALUES (1, ?)", (RULES_VERSION,))
        connection.executemany(
            "INSERT INTO scan_cache VALUES (?, ?, ?, ?, ?)",
            [
                (os.fsencode(keys["a/1.jpg"].path), *keys["a/1.jpg"][1:], "kept image hash", None),
                (os.fsencode(keys["a/1.txt"].path), *keys["a/1.txt"][1:], "kept label hash", "7 7"),
            ],
        )

    files = {entry.rel: entry for entry in scan_to_end(tree, database).files}

    assert files["a/1.jpg"].sha256 == "kept image hash"
    assert (files["a/1.txt"].sha256, files["a/1.txt"].class_ids) == ("kept label hash", (7, 7))
    with closing(sqlite3.connect(database)) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    assert "scan_cache" not in tables and "scan_cache_label_rules" not in tables


def test_two_processes_adding_to_one_folder_both_keep_theirs(
    tmp_path: Path, database: Path
) -> None:
    """One cache adds a file to a folder's row while another holds the write lock to add
    another: the second reads the row only once it has the lock, so neither is lost.

    The interleaving is forced: the first waits, lock held, until the second has sent
    its first statement; had that been the read, it would have read the row without
    the first's file.
    """
    folder = tmp_path / "pulled"
    first, second = (CacheKey(str(folder / name), 1, 1) for name in ("1.jpg", "2.jpg"))
    HashCache(database).close()  # the table exists before either starts
    holder = sqlite3.connect(database, isolation_level=None)
    waiter = HashCache(database)
    started = threading.Event()
    waiter._connection.set_trace_callback(lambda statement: started.set())

    holder.execute("BEGIN IMMEDIATE")
    adding = threading.Thread(target=waiter.store, args=([(second, Content("b" * 64))],))
    adding.start()
    assert started.wait(timeout=30)
    holder.execute(
        "INSERT INTO scan_folders VALUES (?, ?, ?)",
        (os.fsencode(str(folder)), RULES_VERSION, '{"1.jpg": [1, 1, "%s", null]}' % ("a" * 64)),
    )
    holder.execute("COMMIT")
    adding.join(timeout=30)
    waiter.close()
    holder.close()

    with HashCache(database) as cache:
        assert set(cache.lookup([first, second])) == {first, second}
