"""``datayard check`` as a user runs it: exit codes, JSON, the readable report."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fixtures.messy_tree import ExpectedFinding, MessyTree, make_clean_set
from tests.fixtures.privileges import unprivileged_prefix

DATAYARD = Path(sys.executable).with_name("datayard")


def datayard(
    home: Path, *args: str, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the installed command with every platformdirs folder inside ``home``."""
    env = dict(os.environ)
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[variable] = str(home / variable.lower())
    return subprocess.run(
        [*prefix, str(DATAYARD), "check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def findings(report: dict[str, Any]) -> Counter[ExpectedFinding]:
    return Counter(
        ExpectedFinding(group["kind"], group["severity"], finding["path"])
        for group in report["groups"]
        for finding in group["findings"]
    )


def test_a_messy_folder_exits_1_with_every_problem_in_the_json(
    messy_tree: MessyTree, tmp_path: Path
) -> None:
    done = datayard(tmp_path, str(messy_tree.root), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["trainable"] is False
    assert findings(report) == Counter(messy_tree.findings)


def test_the_readable_report_groups_problems_with_their_fix(
    messy_tree: MessyTree, tmp_path: Path
) -> None:
    done = datayard(tmp_path, str(messy_tree.root))
    assert done.returncode == 1, done.stderr
    text = " ".join(done.stdout.split())  # undo the terminal's line wrapping
    assert "ERROR image is truncated (1)" in text
    assert "copy it again from its source" in text
    assert "phone_dump/IMG_0004.jpg" in text
    assert "class 7 is beyond the set's 4 class names" in text
    assert "Not trainable: 13 errors" in text


def test_a_clean_set_exits_0(tmp_path: Path) -> None:
    folder = make_clean_set(tmp_path / "pets")
    done = datayard(tmp_path, str(folder), "--json", "--deep")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["trainable"], report["groups"], report["deep"]) == (True, [], True)
    readable = datayard(tmp_path, str(folder))
    assert readable.returncode == 0
    assert "Trainable: 0 errors, 0 warnings, 0 notes in 6 images" in readable.stdout


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = datayard(tmp_path, str(tmp_path / "nowhere"), "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_folder_the_user_cannot_read_is_reported(messy_tree: MessyTree, tmp_path: Path) -> None:
    prefix = unprivileged_prefix(messy_tree.root / messy_tree.unreadable_folder)
    done = datayard(tmp_path, str(messy_tree.root), "--json", prefix=tuple(prefix))
    assert done.returncode == 1, done.stderr
    assert findings(json.loads(done.stdout)) == Counter(messy_tree.findings_as_user())


def test_the_report_is_also_written_as_csv_and_html(messy_tree: MessyTree, tmp_path: Path) -> None:
    csv_file, html_file = tmp_path / "report.csv", tmp_path / "report.html"
    done = datayard(
        tmp_path, str(messy_tree.root), "--csv", str(csv_file), "--html", str(html_file)
    )
    assert done.returncode == 1, done.stderr
    with csv_file.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert Counter(ExpectedFinding(row["kind"], row["severity"], row["path"]) for row in rows) == (
        Counter(messy_tree.findings)
    )
    page = html_file.read_text("utf-8")
    assert f"Check of {messy_tree.root}" in page
    assert '<img src="data:image/jpeg;base64,' in page


def test_a_report_file_that_cannot_be_written_stops_before_the_check(tmp_path: Path) -> None:
    folder = make_clean_set(tmp_path / "pets")
    target = tmp_path / "no such folder" / "report.html"
    done = datayard(tmp_path, str(folder), "--html", str(target))
    assert done.returncode == 2
    assert done.stdout == ""
    assert (
        done.stderr.strip() == f"error: cannot write {target}: there is no folder {target.parent}"
    )
