"""The inspector's Export… button: the report shown, written where the user chose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from datayard.core.store.workspace import Workspace
from datayard.gui.inspector import Inspector
from datayard.gui.inspector.report_export import CSV_FILTER, HTML_FILTER
from tests.fixtures.messy_tree import MessyTree


@pytest.fixture
def inspector(qtbot: QtBot, messy_tree: MessyTree) -> Iterator[Inspector]:
    shown = Inspector(Workspace.default())
    qtbot.addWidget(shown)
    assert not shown.export.isEnabled()  # no report yet
    with qtbot.waitSignal(shown.inspected, timeout=20_000):
        shown.inspect([messy_tree.root / "phone_dump"])
    yield shown
    shown.close()


def choose(monkeypatch: pytest.MonkeyPatch, path: Path, selected: str) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_args: (str(path), selected))


def export(qtbot: QtBot, inspector: Inspector) -> None:
    inspector.export.click()
    assert not inspector.export.isEnabled()  # until the worker is done
    qtbot.waitUntil(inspector.export.isEnabled, timeout=10_000)


def test_export_writes_the_page_of_the_report_shown(
    qtbot: QtBot,
    inspector: Inspector,
    messy_tree: MessyTree,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    choose(monkeypatch, tmp_path / "phones", HTML_FILTER)  # the filter's suffix is added
    export(qtbot, inspector)
    page = (tmp_path / "phones.html").read_text("utf-8")
    assert f"Check of {messy_tree.root / 'phone_dump'}" in page
    assert '<img src="data:image/jpeg;base64,' in page
    choose(monkeypatch, tmp_path / "phones", CSV_FILTER)
    export(qtbot, inspector)
    assert (tmp_path / "phones.csv").read_text("utf-8-sig").startswith("severity,kind,path")


def test_a_failed_export_says_why(
    qtbot: QtBot, inspector: Inspector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: shown.append(text))
    target = tmp_path / "gone" / "report.html"
    choose(monkeypatch, target, HTML_FILTER)
    export(qtbot, inspector)
    assert [text.partition(": ")[0] for text in shown] == [f"cannot write {target}"]
