"""One number of bytes reads the same in push, pull, datasets, show and the desktop app."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QTextBrowser
from pytestqt.qtbot import QtBot

from datayard.core.units import size
from datayard.gui.datasets.view import COLUMNS
from tests.e2e.test_push import write_images
from tests.fixtures.datasets import fresh_bucket, run_cli
from tests.fixtures.services import S3Server
from tests.gui.test_datasets_view import loaded_view, workspace_for


def test_a_size_reads_the_same_in_every_command_and_in_the_app(
    qtbot: QtBot, secret_service: str, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    workspace = workspace_for(s3_server.profile("lab", bucket=bucket.name), s3_server.secret)
    source = write_images(tmp_path / "cats", 3, side=360)
    shown = size(sum(image.stat().st_size for image in source.iterdir()))
    assert shown == "1.1 MiB"  # decimal units would say 1.2 MB, Qt's own 1.11 MiB

    pushed = run_cli("push", str(source), "--dataset", "cats")
    pulled = run_cli("pull", "cats", str(tmp_path / "pulled"))
    listed = run_cli("datasets")
    described = run_cli("show", "cats")

    assert f"3 files ({shown})" in pushed.stderr
    assert f"sent ({shown})" in pushed.stderr
    assert f"downloaded ({shown})" in pulled.stdout
    assert f" {shown} " in listed.stdout
    assert f" {shown} " in described.stdout
    view = loaded_view(qtbot, workspace)
    assert view.tree.topLevelItem(0).text(COLUMNS.index("Size")) == shown
    with qtbot.waitSignal(view.version_selected, timeout=30_000):
        view.tree.setCurrentItem(view.tree.topLevelItem(0).child(0))
    details = view.findChild(QTextBrowser)
    assert f"Size  \n{shown}  \n" in details.toPlainText().replace("\xa0", " ")
