"""The badges of a scanned folder, when the tree's column is too narrow for all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from datayard.core.drive.check import Severity
from datayard.core.drive.inspection import FolderSummary
from datayard.gui.browser.badges import fitting

SUMMARY = FolderSummary(
    folder=Path("road_signs"),
    mtime_ns=1,
    images=6,
    labelled=3,
    layouts=("flat pairs",),
    counts={Severity.ERROR: 6, Severity.WARNING: 2},
)


@pytest.mark.parametrize(
    ("badges_with_room", "shown"),
    [
        (5, ["6 images", "50% labelled", "flat pairs", "6 errors", "2 warnings"]),
        (4, ["6 images", "50% labelled", "6 errors", "2 warnings"]),
        (3, ["6 images", "6 errors", "2 warnings"]),
        (2, ["6 errors", "2 warnings"]),
        (1, ["6 errors"]),
        (0, []),
    ],
)
def test_errors_stay_longest_and_the_layout_goes_first(
    badges_with_room: int, shown: list[str]
) -> None:
    assert [badge.text for badge in SUMMARY.badges] == [
        "6 images",
        "50% labelled",
        "flat pairs",
        "6 errors",
        "2 warnings",
    ]
    kept = fitting(SUMMARY.badges, badges_with_room * 10, lambda badge: 10)
    assert [badge.text for badge in kept] == shown
