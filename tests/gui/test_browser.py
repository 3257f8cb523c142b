"""The shared-drive browser: roots, lazy folders, selection, badges, watching, drag, big folders."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel
from pytestqt.qtbot import QtBot

from datayard.core.settings import Settings
from datayard.core.store.workspace import Workspace
from datayard.gui.browser import DriveBrowser
from datayard.gui.browser.tree import Role
from tests.fixtures.messy_tree import MessyTree

log = logging.getLogger(__name__)


def workspace_with(*roots: Path, owner: str = "alice.martin") -> Workspace:
    workspace = Workspace.default()
    workspace.save(Settings(owner=owner, roots=tuple(str(root) for root in roots)))
    return workspace


@pytest.fixture
def open_browser(qtbot: QtBot) -> Iterator[list[DriveBrowser]]:
    made: list[DriveBrowser] = []
    yield made
    for browser in made:
        browser.close()


def browser_on(qtbot: QtBot, made: list[DriveBrowser], *roots: Path, **kw: bool) -> DriveBrowser:
    browser = DriveBrowser(workspace_with(*roots), **kw)
    made.append(browser)
    qtbot.addWidget(browser)
    browser.resize(500, 600)
    browser.show()
    return browser


def loaded(browser: DriveBrowser, folder: Path) -> bool:
    item = browser.model.folder(folder)
    return (
        item is not None and browser.model.is_loaded(item) and str(folder) not in browser._listings
    )


def open_folder(qtbot: QtBot, browser: DriveBrowser, folder: Path) -> None:
    qtbot.waitUntil(lambda: browser.model.folder(folder) is not None, timeout=30_000)
    item = browser.model.folder(folder)
    assert item is not None
    browser.tree.expand(item.index())
    qtbot.waitUntil(lambda: loaded(browser, folder), timeout=30_000)


def children(browser: DriveBrowser, folder: Path) -> list[str]:
    item = browser.model.folder(folder)
    assert item is not None
    return [item.child(row).text() for row in range(item.rowCount())]


def select(browser: DriveBrowser, *folders: Path) -> None:
    selection = browser.tree.selectionModel()
    selection.clear()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for folder in folders:
        item = browser.model.folder(folder)
        assert item is not None
        selection.select(item.index(), flags)


def test_empty_state_offers_to_add_a_folder(qtbot: QtBot, open_browser: list[DriveBrowser]) -> None:
    browser = browser_on(qtbot, open_browser)
    assert browser.pages.currentIndex() == 0
    assert browser.add_button.isVisible()
    with qtbot.waitSignal(browser.add_root_requested, timeout=10_000):
        browser.add_button.click()


def test_the_tree_shows_the_owner_first_and_lazy_folders(
    qtbot: QtBot, open_browser: list[DriveBrowser], messy_tree: MessyTree, tmp_path: Path
) -> None:
    team = tmp_path / "team"
    team.mkdir()
    browser = browser_on(qtbot, open_browser, team, messy_tree.root)
    qtbot.waitUntil(lambda: browser.model.rowCount() == 2, timeout=30_000)
    roots = [browser.model.item(row).data(Role.PATH) for row in range(2)]
    assert roots == [str(messy_tree.root), str(team)]
    # The owner's folder opens by itself; junk and hidden folders are not shown.
    qtbot.waitUntil(lambda: loaded(browser, messy_tree.root), timeout=30_000)
    shown = children(browser, messy_tree.root)
    assert shown == sorted(shown[:7], key=str.casefold) and ".thumbnails" not in shown
    phone = messy_tree.root / "phone_dump"
    open_folder(qtbot, browser, phone)
    files = children(browser, phone)
    expected = {Path(rel).name for rel in messy_tree.images if rel.startswith("phone_dump/")}
    assert set(files) == expected  # no desktop.ini, ~$ lock file, .DS_Store or ._ fork


def test_selection_and_badges(
    qtbot: QtBot, open_browser: list[DriveBrowser], messy_tree: MessyTree
) -> None:
    browser = browser_on(qtbot, open_browser, messy_tree.root)
    qtbot.waitUntil(lambda: loaded(browser, messy_tree.root), timeout=30_000)
    road, drone = messy_tree.root / "road_signs", messy_tree.root / "drone_pairs"
    emitted: list[list[Path]] = []
    browser.selection_changed.connect(emitted.append)
    select(browser, road, drone)
    assert set(emitted[-1]) == {road, drone}
    qtbot.waitUntil(
        lambda: road in browser.summaries and drone in browser.summaries, timeout=10_000
    )
    for folder in (road, drone):
        expected = messy_tree.set_at(folder.name)
        summary = browser.summaries[folder]
        findings = [f for f in messy_tree.findings if f.path.startswith(f"{folder.name}/")]
        assert summary.images == len(expected.pairs)
        assert summary.layouts == (str(expected.layout),)
        errors = sum(f.severity == "error" for f in findings)
        assert str(summary.counts["error"]) == str(errors)
        item = browser.model.folder(folder)
        assert item is not None and item.data(Role.SUMMARY) is summary
        assert f"{summary.images} images" in item.toolTip()
    qtbot.waitUntil(lambda: browser._scan is None, timeout=30_000)


def test_new_files_appear_and_refresh_reads_again(
    qtbot: QtBot, open_browser: list[DriveBrowser], messy_tree: MessyTree
) -> None:
    browser = browser_on(qtbot, open_browser, messy_tree.root, scan_on_select=False)
    folder = messy_tree.root / "drone_pairs"
    open_folder(qtbot, browser, folder)
    (folder / "frame_0010.jpg").write_bytes(b"new")
    qtbot.waitUntil(lambda: "frame_0010.jpg" in children(browser, folder), timeout=30_000)
    assert children(browser, folder).index("frame_0010.jpg") == len(children(browser, folder)) - 1
    (folder / "frame_0001.jpg").unlink()
    browser.refresh()
    qtbot.waitUntil(lambda: "frame_0001.jpg" not in children(browser, folder), timeout=30_000)


def test_dragging_selected_items_carries_file_urls(
    qtbot: QtBot, open_browser: list[DriveBrowser], messy_tree: MessyTree
) -> None:
    browser = browser_on(qtbot, open_browser, messy_tree.root, scan_on_select=False)
    qtbot.waitUntil(lambda: loaded(browser, messy_tree.root), timeout=30_000)
    road, parking = messy_tree.root / "road_signs", messy_tree.root / "parking_2022"
    select(browser, road, parking)
    indexes = browser.tree.selectionModel().selectedIndexes()
    data = browser.model.mimeData(indexes)
    assert {Path(url.toLocalFile()) for url in data.urls()} == {road, parking}
    assert browser.tree.dragEnabled()


def test_a_big_folder_opens_completely(
    qtbot: QtBot, open_browser: list[DriveBrowser], tmp_path: Path
) -> None:
    # How long the event loop stalls meanwhile is a figure of
    # tests/benchmarks/bench_gui.py, not an assertion here.
    count = 20_000
    big = tmp_path / "share" / "big"
    big.mkdir(parents=True)
    for index in range(count):
        (big / f"img_{index:06d}.jpg").touch()
    browser = browser_on(qtbot, open_browser, big.parent, scan_on_select=False)
    qtbot.waitUntil(lambda: browser.model.folder(big) is not None, timeout=30_000)
    item = browser.model.folder(big)
    assert item is not None
    browser.tree.expand(item.index())
    qtbot.waitUntil(lambda: item.rowCount() == count and loaded(browser, big), timeout=60_000)
    names = {item.child(row).text() for row in (0, count // 2, count - 1)}
    assert names == {"img_000000.jpg", f"img_{count // 2:06d}.jpg", f"img_{count - 1:06d}.jpg"}
