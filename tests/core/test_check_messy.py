"""scan + check on the messy folder: every planted problem, and nothing else."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from datayard.core.drive.check import CheckReport, check
from datayard.core.drive.inventory import Inventory
from datayard.core.drive.scan import scan
from datayard.core.events import run_to_end
from tests.fixtures.messy_tree import (
    ClassCount,
    ExpectedFinding,
    MessyTree,
    make_clean_set,
)


def scan_and_check(root: Path, deep: bool = False, include_hidden: bool = False) -> CheckReport:
    inventory = run_to_end(scan(root, database=None, include_hidden=include_hidden), Inventory)
    return run_to_end(check(inventory, deep=deep, workers=4), CheckReport)


def as_expected(report: CheckReport) -> Counter[ExpectedFinding]:
    return Counter(
        ExpectedFinding(finding.kind.value, finding.severity.value, finding.path)
        for finding in report.findings
    )


@pytest.mark.parametrize("deep", [False, True], ids=["header", "deep"])
def test_every_planted_problem_and_nothing_else(messy_tree: MessyTree, deep: bool) -> None:
    report = scan_and_check(messy_tree.root, deep=deep)
    assert as_expected(report) == Counter(messy_tree.findings)
    assert not report.trainable
    assert report.images_checked == len(messy_tree.images)


def test_hidden_images_are_checked_when_asked_for(messy_tree: MessyTree) -> None:
    report = scan_and_check(messy_tree.root, include_hidden=True)
    assert as_expected(report) == Counter(messy_tree.findings)
    assert report.images_checked == len(messy_tree.images | messy_tree.hidden)


def test_class_histograms_and_pairing(messy_tree: MessyTree) -> None:
    report = scan_and_check(messy_tree.root)
    for summary in report.sets:
        expected = messy_tree.set_at(summary.root)
        used = {
            c.class_id: ClassCount(c.instances, c.images) for c in summary.classes if c.instances
        }
        assert used == expected.histogram, summary.root
        assert summary.images == len(expected.pairs)
        assert summary.labelled_images == sum(
            label is not None for label in expected.pairs.values()
        )
        names = tuple(c.name for c in summary.classes if c.name is not None)
        assert names == expected.class_names


def test_a_clean_set_is_trainable(tmp_path: Path) -> None:
    report = scan_and_check(make_clean_set(tmp_path / "pets"), deep=True)
    assert report.findings == ()
    assert report.trainable
    (summary,) = report.sets
    assert (summary.images, summary.labelled_images) == (6, 6)
