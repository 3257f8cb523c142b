"""The browser's tree model: a fresh listing changes only what changed, never a stale copy."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from datayard.core.drive.folder_listing import Entry, Listing, Root
from datayard.gui.browser.tree import FolderTree, Kind, Role, plan_update


def listing(folder: Path, *names: str, mtime_ns: int = 1) -> Listing:
    """Names ending in ``/`` are folders."""
    entries = [Entry(name.rstrip("/"), name.endswith("/"), 0, mtime_ns) for name in names]
    return Listing(folder, mtime_ns, sorted(entries, key=lambda entry: entry.sort_key))


def rows(model: FolderTree, folder: Path) -> list[tuple[str, Kind]]:
    item = model.folder(folder)
    assert item is not None
    found = (item.child(row) for row in range(item.rowCount()))
    return [(child.text(), Kind(child.data(Role.KIND))) for child in found]


def filled(qtbot: QtBot, folder: Path, *names: str) -> FolderTree:
    model = FolderTree()
    model.set_roots([Root(folder, owned=True)])
    with qtbot.waitSignal(model.folder_filled, timeout=10_000):
        assert model.apply(plan_update(listing(folder, *names), model.known(str(folder))))
    return model


def test_a_listing_changes_only_the_rows_that_changed(qtbot: QtBot, tmp_path: Path) -> None:
    model = filled(qtbot, tmp_path, "a.jpg", "b.jpg", "sub/")
    kept = model.folder(tmp_path / "sub")
    update = plan_update(
        listing(tmp_path, "b.jpg/", "sub/", "c.jpg", mtime_ns=2), model.known(str(tmp_path))
    )
    assert update.rows is None  # a difference, not every row again
    assert sorted(update.removed) == ["a.jpg", "b.jpg"]
    assert model.apply(update)
    assert rows(model, tmp_path) == [
        ("b.jpg", Kind.FOLDER),
        ("sub", Kind.FOLDER),
        ("c.jpg", Kind.FILE),
    ]
    assert model.folder(tmp_path / "sub") is kept
    assert kept is not None and kept.data(Role.MTIME) == 2  # "sub" badges can tell they are stale
    assert model.folder(tmp_path / "b.jpg") is not None


def test_a_difference_from_rows_that_changed_since_is_refused(qtbot: QtBot, tmp_path: Path) -> None:
    model = filled(qtbot, tmp_path, "a.jpg")
    old = model.known(str(tmp_path))
    assert model.apply(plan_update(listing(tmp_path, "a.jpg", "b.jpg"), model.known(str(tmp_path))))
    assert not model.apply(plan_update(listing(tmp_path, "c.jpg"), old))
    assert rows(model, tmp_path) == [("a.jpg", Kind.FILE), ("b.jpg", Kind.FILE)]


def test_an_emptied_folder_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    model = filled(qtbot, tmp_path, "a.jpg")
    assert model.apply(plan_update(listing(tmp_path), model.known(str(tmp_path))))
    assert rows(model, tmp_path) == [("No folders or images here", Kind.NOTE)]
