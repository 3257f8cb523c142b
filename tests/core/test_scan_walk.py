"""The walk on a messy shared drive: junk, hidden files, links, permissions, odd names."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_scan import only_set, scan_to_end, touch
from hypothesis import given
from hypothesis import strategies as st

from datayard.core.drive.inventory import LayoutKind, ScanProblemKind
from datayard.core.drive.scan import scan
from datayard.core.drive.scan.walker import stem_of
from datayard.core.errors import UsageError
from tests.fixtures.privileges import unprivileged_prefix


def problems(inventory: object) -> dict[str, ScanProblemKind]:
    return {problem.rel: problem.kind for problem in inventory.problems}  # type: ignore[attr-defined]


def test_junk_is_skipped_even_with_hidden_files(tmp_path: Path) -> None:
    touch(tmp_path, "a/x.jpg", "a/Thumbs.db", "a/.DS_Store", "a/desktop.ini", "a/~$notes.docx")
    touch(tmp_path, "a/._x.jpg", "a/.hidden.jpg", ".git/config", ".cache/b.jpg")

    default = scan_to_end(tmp_path)
    with_hidden = scan_to_end(tmp_path, include_hidden=True)

    assert [entry.rel for entry in default.files] == ["a/x.jpg"]
    assert (default.junk_skipped, default.hidden_skipped) == (5, 3)
    assert [entry.rel for entry in with_hidden.files] == [
        ".cache/b.jpg",
        ".git/config",
        "a/.hidden.jpg",
        "a/x.jpg",
    ]
    assert (with_hidden.junk_skipped, with_hidden.hidden_skipped) == (5, 0)


def test_symlink_loops_end_and_are_reported(tmp_path: Path) -> None:
    touch(tmp_path, "ds/a/one.jpg", "ds/b/two.jpg")
    (tmp_path / "ds/a/up").symlink_to("..")
    (tmp_path / "ds/b/self").symlink_to(tmp_path / "ds/b")
    (tmp_path / "ds/knot").symlink_to("knot")
    (tmp_path / "ds/b/root").symlink_to(tmp_path.parent)  # above the scanned folder

    inventory = scan_to_end(tmp_path)

    assert [entry.rel for entry in inventory.files] == ["ds/a/one.jpg", "ds/b/two.jpg"]
    assert problems(inventory) == {
        "ds/a/up": ScanProblemKind.SYMLINK_LOOP,
        "ds/b/self": ScanProblemKind.SYMLINK_LOOP,
        "ds/b/root": ScanProblemKind.SYMLINK_LOOP,
        "ds/knot": ScanProblemKind.SYMLINK_LOOP,
    }


def test_linked_folders_are_listed_once_and_real_paths_win(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(tmp_path, "outside/far.jpg", "root/z_real/near.jpg")
    # "a_link" sorts before the folder it points to: the real path must still win.
    (root / "a_link").symlink_to(root / "z_real")
    (root / "out").symlink_to(tmp_path / "outside")
    (root / "out2").symlink_to(tmp_path / "outside")
    (root / "file_link.jpg").symlink_to(root / "z_real/near.jpg")
    (root / "dangling.jpg").symlink_to(tmp_path / "missing.jpg")

    inventory = scan_to_end(root)

    assert [entry.rel for entry in inventory.files] == [
        "file_link.jpg",
        "out/far.jpg",
        "z_real/near.jpg",
    ]
    assert problems(inventory) == {"dangling.jpg": ScanProblemKind.BROKEN_SYMLINK}


def test_unicode_spaces_and_very_long_paths(tmp_path: Path) -> None:
    deep = "/".join(f"{index:02d} " + "ü" * 60 for index in range(20))  # ~2,500 bytes, 20 levels
    names = [
        "Prüfung 2024/Bild 01 (Kopie).jpg",
        "数据集/图片 1.png",
        "emoji 🚗/car #1.jpg",
        f"{deep}/x.jpg",
    ]
    touch(tmp_path, *names)
    touch(tmp_path, "Prüfung 2024/Bild 01 (Kopie).txt", content=b"0 0.5 0.5 0.1 0.1\n")

    inventory = scan_to_end(tmp_path)

    assert sorted(entry.rel for entry in inventory.files if entry.suffix != ".txt") == sorted(names)
    assert len(max(names, key=len).encode()) > 2000
    pairs = only_set(inventory, "Prüfung 2024")
    assert pairs.layout is LayoutKind.FLAT_PAIRS
    assert pairs.items[0].label == "Prüfung 2024/Bild 01 (Kopie).txt"
    assert all(entry.sha256 for entry in inventory.files)


def test_a_folder_beyond_path_max_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """Such trees exist on SMB shares; opening them by path fails with ENAMETOOLONG."""
    touch(tmp_path, "ok.jpg")
    descriptor = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 x 250 bytes: past Linux's 4096-byte PATH_MAX
            os.mkdir("d" * 250, dir_fd=descriptor)
            child = os.open("d" * 250, os.O_RDONLY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = child
    finally:
        os.close(descriptor)

    inventory = scan_to_end(tmp_path)

    assert [entry.rel for entry in inventory.files] == ["ok.jpg"]
    (problem,) = inventory.problems
    assert problem.kind is ScanProblemKind.UNREADABLE_FOLDER
    assert "too long" in problem.detail
    shutil.rmtree(tmp_path, ignore_errors=True)  # pytest's own clean-up cannot either


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_root_must_be_an_existing_folder(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "x"
    if kind == "file":
        target.write_text("not a folder")
    with pytest.raises(
        UsageError, match="does not exist" if kind == "missing" else "is not a folder"
    ):
        next(scan(target, database=None))


# --- Permissions: root reads everything, so these run the scan without that power.


@pytest.fixture
def locked_tree() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="datayard-locked-"))
    touch(root, "ok/a.jpg", "ok/secret.jpg", "closed/b.jpg")
    (root / "ok/secret.jpg").chmod(0)
    (root / "closed").chmod(0)
    yield root
    (root / "closed").chmod(0o700)
    shutil.rmtree(root)


def test_unreadable_folders_and_files_are_problems(locked_tree: Path) -> None:
    prefix = unprivileged_prefix(locked_tree / "closed")
    script = (
        "import json, sys; from pathlib import Path;"
        "from datayard.core.events import run_to_end;"
        "from datayard.core.drive.inventory import Inventory;"
        "from datayard.core.drive.scan import scan;"
        "inv = run_to_end(scan(Path(sys.argv[1]), database=None), Inventory);"
        "print(json.dumps({'files': [(e.rel, e.sha256 is not None) for e in inv.files],"
        " 'problems': [(p.rel, str(p.kind)) for p in inv.problems]}))"
    )
    done = subprocess.run(
        [*prefix, sys.executable, "-c", script, str(locked_tree)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    result = json.loads(done.stdout)

    assert result["files"] == [["ok/a.jpg", True], ["ok/secret.jpg", False]]
    assert result["problems"] == [
        ["closed", str(ScanProblemKind.UNREADABLE_FOLDER)],
        ["ok/secret.jpg", str(ScanProblemKind.UNREADABLE_FILE)],
    ]


@given(st.text(alphabet="a./é", max_size=12))
def test_a_path_s_stem_is_what_splitext_says(rel: str) -> None:
    """The scan cuts suffixes by hand for speed; by the same rule as the standard library."""
    assert stem_of(rel) == posixpath.splitext(rel)[0]
