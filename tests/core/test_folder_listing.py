"""Listing one folder for the browser, and putting the owner's folder first."""

from __future__ import annotations

from pathlib import Path

from datayard.core.drive.folder_listing import Listing, list_folder, order_roots
from datayard.core.events import Finished, run_to_end
from tests.fixtures.messy_tree import MessyTree


def test_folders_first_then_images_in_natural_order(tmp_path: Path) -> None:
    tmp_path = tmp_path / "folder"
    tmp_path.mkdir()
    for name in ("img_10.jpg", "img_9.JPG", "notes.txt", "Thumbs.db", "._img_9.jpg", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "b_folder").mkdir()
    (tmp_path / "A_folder").mkdir()
    listing = run_to_end(list_folder(tmp_path), Listing)
    assert [e.name for e in listing.entries] == ["A_folder", "b_folder", "img_9.JPG", "img_10.jpg"]
    assert listing.mtime_ns == tmp_path.stat().st_mtime_ns


def test_an_unreadable_folder_raises_for_the_caller_to_word(tmp_path: Path) -> None:
    events = list_folder(tmp_path / "missing")
    try:
        next(events)
    except FileNotFoundError:
        return
    raise AssertionError("expected FileNotFoundError")


def test_owner_folder_first(tmp_path: Path, messy_tree: MessyTree) -> None:
    team = tmp_path / "team"
    (team / "projects").mkdir(parents=True)
    users = tmp_path / "users"
    (users / "alice.martin").mkdir(parents=True)
    missing = tmp_path / "gone"
    roots = order_roots([str(team), str(missing), str(users), str(messy_tree.root)], "Alice Martin")
    assert [r.path for r in roots] == [users, messy_tree.root, team, missing]
    assert roots[0].owner_folder == users / "alice.martin"
    assert roots[1].owned and roots[1].owner_folder is None
    assert roots[3].problem == "this folder does not exist"


def test_progress_on_a_big_folder(tmp_path: Path) -> None:
    tmp_path = tmp_path / "big"
    tmp_path.mkdir()
    for index in range(3000):
        (tmp_path / f"{index}.png").write_bytes(b"")
    events = list(list_folder(tmp_path))
    assert isinstance(events[-1], Finished)
    assert len(events[-1].result.entries) == 3000
