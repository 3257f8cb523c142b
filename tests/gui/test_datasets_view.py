"""The datasets view lists, describes, compares and pulls versions of a real SeaweedFS store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from datayard.core.datasets.catalog import DatasetRef
from datayard.core.datasets.manifest import Manifest
from datayard.core.events import run_to_end
from datayard.core.models.store import add_model
from datayard.core.models.version import Lineage, ModelRef, ModelVersion, WeightsFacts
from datayard.core.settings import Profile, Settings
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import version_key
from datayard.core.store.workspace import Workspace
from datayard.gui.datasets import DatasetsView
from datayard.gui.datasets.view import COLUMNS
from tests.fixtures.datasets import fresh_bucket, noise, png, publish, sample_files
from tests.fixtures.services import S3Server

pytestmark = pytest.mark.usefixtures("secret_service")


def workspace_for(profile: Profile, secret: str) -> Workspace:
    workspace = Workspace.default()
    workspace.secrets.set(profile.name, secret)
    workspace.save(Settings(owner="alice", profiles=(profile,), default_profile=profile.name))
    return workspace


@pytest.fixture
def store(s3_server: S3Server) -> tuple[Workspace, dict[str, bytes], Manifest, Manifest]:
    """alice/cats twice (one file added, one removed, one changed) and bob/dogs once."""
    bucket = fresh_bucket(s3_server)
    files = sample_files(extra_train=2)
    first = publish(bucket, "alice/cats", files, when=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    changed = {k: v for k, v in files.items() if k != "labels/train/x1.txt"}
    changed["images/train/cat2.png"] = png((1, 2, 3))
    changed["images/val/new.jpg"] = noise(500, seed=7)
    second = publish(bucket, "alice/cats", changed, message="a val image added")
    publish(bucket, "bob/dogs", {"images/train/d.jpg": noise(10, 1)})
    profile = s3_server.profile("lab", bucket=bucket.name)
    return workspace_for(profile, s3_server.secret), changed, first, second


def loaded_view(qtbot: QtBot, workspace: Workspace) -> DatasetsView:
    view = DatasetsView(workspace)
    qtbot.addWidget(view)
    view.resize(1200, 650)
    view.show()
    with qtbot.waitSignal(view.loaded, timeout=20_000):
        view.refresh()
    return view


def cells(view: DatasetsView, row: int, child: int | None = None) -> dict[str, str]:
    item = view.tree.topLevelItem(row)
    if child is not None:
        item = item.child(child)
    return {column: item.text(index) for index, column in enumerate(COLUMNS)}


def test_lists_datasets_with_their_versions(qtbot: QtBot, store: tuple) -> None:
    workspace, _, first, second = store
    view = loaded_view(qtbot, workspace)

    assert view.profile.currentText() == "lab"
    assert view.tree.topLevelItemCount() == 2
    cats = cells(view, 0)
    assert (cats["Dataset / version"], cats["Owner"], cats["Versions"]) == ("cats", "alice", "2")
    assert cats["Files"] == str(len(second.files))
    assert cats["Classes"] == "cat, dog"
    assert cells(view, 1)["Dataset / version"] == "dogs"
    oldest, newest = cells(view, 0, 0), cells(view, 0, 1)  # in the order of history
    assert (oldest["Dataset / version"], newest["Dataset / version"]) == (
        f"v1  {first.id}",
        f"v2  {second.id}",
    )
    assert "a val image added" in view.tree.topLevelItem(0).child(1).toolTip(0)
    assert oldest["Created"].startswith("2026-01-0")
    assert oldest["Files"] == str(len(first.files))

    with qtbot.waitSignal(view.version_selected, timeout=30_000) as selected:
        view.tree.setCurrentItem(view.tree.topLevelItem(0).child(0))
    assert selected.args == [DatasetRef("alice", "cats", first.id)]
    details = " ".join(view.details.toPlainText().split())
    assert f"v1: alice/cats@{first.id}" in details
    assert "alice@lab-pc" in details and "lab-pc: /share/cats" in details
    assert "none (first version)" in details
    assert "split images train 4 val 1" in details
    assert "id name instances 0 cat 3 1 dog 3" in details


def test_shows_the_diff_of_two_versions(qtbot: QtBot, store: tuple) -> None:
    workspace, _, first, second = store
    view = loaded_view(qtbot, workspace)
    cats = view.tree.topLevelItem(0)
    cats.setExpanded(True)
    cats.child(0).setSelected(True)
    cats.child(1).setSelected(True)

    assert view.side.currentWidget() is view.diff
    assert f"From {first.ref}\nto {second.ref}" in view.diff.summary.text()
    groups = [view.diff.tree.topLevelItem(i) for i in range(3)]
    assert [g.text(0) for g in groups] == ["Added (1)", "Removed (1)", "Changed (1)"]
    assert [g.child(0).text(0) for g in groups] == [
        "images/val/new.jpg",
        "labels/train/x1.txt",
        "images/train/cat2.png",
    ]
    assert not view.pull.button.isEnabled()  # one version at a time


def test_pulls_a_version_into_a_folder(
    qtbot: QtBot, store: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, files, _, second = store
    view = loaded_view(qtbot, workspace)
    view.tree.setCurrentItem(view.tree.topLevelItem(0).child(1))
    destination = tmp_path / "pulled"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_: str(destination))

    with qtbot.waitSignal(view.pull.pulled, timeout=30_000) as pulled:
        view.pull.button.click()
    assert pulled.args[0].complete
    for path, data in files.items():
        assert (destination / path).read_bytes() == data
    assert (destination / "data.yaml").is_file()
    message = view.pull.message.text()
    assert f"Pulled {second.ref} into {destination}: {len(files)} files downloaded" in message
    assert "Train with data=" in message
    qtbot.waitUntil(lambda: view.pull.button.isEnabled(), timeout=30_000)


def test_an_unreachable_store_is_a_readable_message(qtbot: QtBot, s3_server: S3Server) -> None:
    down = Profile(name="down", endpoint="http://127.0.0.1:9", bucket="datayard", access_key="k")
    view = DatasetsView(workspace_for(down, "secret"))
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.refresh().ended, timeout=30_000):
        pass
    text = view.status.text()
    assert "nothing answers at 127.0.0.1:9" in text
    assert "Settings" in text and "Traceback" not in text
    assert view.tree.topLevelItemCount() == 0


def test_a_version_that_cannot_be_read_is_marked_beside_the_others(
    qtbot: QtBot, store: tuple, s3_server: S3Server
) -> None:
    workspace, _, first, second = store
    bucket = Bucket(workspace.settings().profiles[0], s3_server.secret)
    key = version_key("alice", "cats", second.id)
    bucket.put_bytes(key, second.to_json().replace(b'"size": ', b'"size": -', 1))
    bucket.put_bytes(version_key("carol", "gone", first.id), b"{not json")
    view = loaded_view(qtbot, workspace)

    assert [view.tree.topLevelItem(i).text(0) for i in range(3)] == ["cats", "dogs", "gone"]
    cats, gone = view.tree.topLevelItem(0), view.tree.topLevelItem(2)
    assert cats.text(COLUMNS.index("Versions")) == "1"  # the version that can be read
    marked = cats.child(1)
    assert marked.text(0) == second.id and marked.text(COLUMNS.index("Owner")) == "cannot be read"
    assert marked.toolTip(0).startswith(f"{key}: files[0].size is not a size in bytes")
    assert not marked.flags() & Qt.ItemFlag.ItemIsSelectable
    assert (
        gone.child(0).toolTip(0).startswith(f"{version_key('carol', 'gone', first.id)} is not JSON")
    )
    notice = view.status.text().splitlines()
    assert notice[0] == "2 versions cannot be read (marked in the list):"
    assert notice[1].startswith(f"{key}: files[0].size ")
    view.tree.setCurrentItem(cats.child(0))
    assert view.selected_versions() == [first]


def test_a_version_names_its_parent_by_number_and_the_models_trained_on_it(
    qtbot: QtBot, store: tuple, tmp_path: Path
) -> None:
    workspace, _, first, second = store
    view = loaded_view(qtbot, workspace)
    assert view.contents is not None
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights" * 100)
    facts = WeightsFacts("detect", ("cat", "dog"), "yolo11n", 2_600_000, 320)
    lineage = Lineage(run="20260106-090000-abcdef", dataset=second.ref, metrics={"mAP50-95": 0.5})
    ref = ModelRef("alice", "cats-detector")
    adding = add_model(view.contents.bucket, weights, facts, ref, source="run:x", lineage=lineage)
    run_to_end(adding, ModelVersion)
    view.refresh()
    qtbot.waitUntil(lambda: second.ref in view.trained, timeout=20_000)

    with qtbot.waitSignal(view.version_selected, timeout=30_000):
        view.tree.setCurrentItem(view.tree.topLevelItem(0).child(1))
    details = " ".join(view.details.toPlainText().split())
    assert f"Parent v1: {first.id}" in details
    assert "Models trained on it model run mAP50-95" in details
    assert "alice/cats-detector@v1 20260106-090000-abcdef 0.500" in details
    view.tree.setCurrentItem(view.tree.topLevelItem(0).child(0))
    assert "Models trained on it" not in view.details.toPlainText()
