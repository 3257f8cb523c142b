"""A push plans only versions that every reader accepts and every machine can pull."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest_scan import label, scan_to_end, touch

from datayard.core.datasets.push.plan import SplitMode, plan
from datayard.core.errors import UsageError


def test_images_that_share_a_label_file_share_it_in_the_version(tmp_path: Path) -> None:
    touch(tmp_path, "images/train/a.jpg", "images/train/a.png")
    label(tmp_path, "labels/train/a.txt", 0)

    planned = plan([scan_to_end(tmp_path)], SplitMode.AUTO)

    assert sorted(f.entry.path for f in planned.files) == [
        "images/train/a.jpg",
        "images/train/a.png",
        "labels/train/a.txt",
    ]


def test_names_that_differ_only_by_case_are_refused_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "images/train/Cat.jpg")
    touch(tmp_path, "images/train/cat.jpg", content=b"\xff\xd8 another image")

    with pytest.raises(UsageError, match="case-insensitive file system") as raised:
        plan([scan_to_end(tmp_path)], SplitMode.AUTO)
    assert f"cannot push {tmp_path}/images/train/" in str(raised.value)
    assert str(raised.value).endswith("rename the file")
