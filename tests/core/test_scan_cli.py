"""``datayard scan`` as a user runs it: the installed command, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest_scan import label, touch

DATAYARD = Path(sys.executable).with_name("datayard")


def datayard(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "xdg"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "COLUMNS": "120",
    }
    return subprocess.run(
        [str(DATAYARD), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_json_summary_and_cache_in_the_state_folder(tmp_path: Path) -> None:
    tree = tmp_path / "share"
    touch(tree, "ds/images/train/a.jpg", "ds/images/val/b.jpg", "Thumbs.db")
    label(tree, "ds/labels/train/a.txt", 0, 1)
    touch(
        tree, "ds/data.yaml", content=b"train: images/train\nval: images/val\nnames: [cat, dog]\n"
    )

    done = datayard(tmp_path, "scan", str(tree), "--json", "--workers", "2")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["root"] == str(tree)
    assert summary["splits"] == {"train": 1, "val": 1}
    assert summary["classes"] == [
        {"class": "cat", "objects": 1, "images": 1},
        {"class": "dog", "objects": 1, "images": 1},
    ]
    assert summary["junk_skipped"] == 1
    assert summary["hashed"] == 4
    assert (tmp_path / "xdg/state/datayard/datayard.sqlite3").is_file()


def test_tables_on_the_terminal(tmp_path: Path) -> None:
    touch(tmp_path / "share", "[final] set/a.png")
    done = datayard(tmp_path, "scan", str(tmp_path / "share"), "--no-hash")
    assert done.returncode == 0, done.stderr
    assert "unlabelled images" in done.stdout
    assert "[final] set" in done.stdout, "folder names are text, not markup"


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    done = datayard(tmp_path, "scan", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
