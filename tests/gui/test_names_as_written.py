"""Names that look like HTML show as written: in labels, tooltips and rich text.

Qt reads text that starts like HTML as HTML, so these tests read what a user
sees, not what the code passed: :func:`shown` renders a text the way Qt does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocumentFragment
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from datayard.core.store.workspace import Workspace
from datayard.core.training.backends import Backends
from datayard.core.training.runs import RunRegistry
from datayard.gui.datasets.view import COLUMNS
from datayard.gui.inspector import Inspector
from datayard.gui.rich_text import as_written
from datayard.gui.transfers import TransfersPanel
from tests.e2e.test_push import write_images
from tests.fixtures.datasets import fresh_bucket, publish, sample_files
from tests.fixtures.services import S3Server
from tests.gui.test_datasets_view import loaded_view, workspace_for
from tests.gui.test_train_dialog import manifest, open_dialog

TAGGED = "<b>x</b>"


def shown(text: str, text_format: Qt.TextFormat = Qt.TextFormat.AutoText) -> str:
    """What Qt shows for ``text``: rendered as HTML where Qt takes it for HTML."""
    rich = text_format is Qt.TextFormat.RichText or (
        text_format is Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(text)
    )
    return QTextDocumentFragment.fromHtml(text).toPlainText() if rich else text


def label_shows(label: QLabel) -> str:
    return shown(label.text(), label.textFormat())


def test_as_written_keeps_plain_text_and_quotes_what_looks_like_html() -> None:
    assert as_written("images/train\ncats") == "images/train\ncats"
    assert shown(as_written(f"{TAGGED} &lt; here")) == f"{TAGGED} &lt; here"


def test_a_dataset_name_typed_with_tags_is_quoted_as_typed(
    qtbot: QtBot, secret_service: str, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    workspace_for(s3_server.profile("lab", bucket=bucket.name), s3_server.secret)
    folder = write_images(tmp_path / "<b>cats", 2)
    panel = TransfersPanel(Workspace.default(), workers=1)
    qtbot.addWidget(panel)
    dialog = panel.request_push([folder])
    assert dialog is not None

    dialog.name.setText(TAGGED)

    assert TAGGED in label_shows(dialog.name_problem)
    listing = [label_shows(label) for label in dialog.findChildren(QLabel)]
    assert str(folder) in listing
    dialog.reject()


def test_the_inspected_folder_is_named_as_written(qtbot: QtBot, tmp_path: Path) -> None:
    folder = write_images(tmp_path / "<b>cats", 1)
    inspector = Inspector(Workspace.default())
    qtbot.addWidget(inspector)

    with qtbot.waitSignal(inspector.inspected, timeout=20_000):
        inspector.inspect([folder])
        assert label_shows(inspector.summary) == "Inspecting <b>cats…"


@pytest.mark.usefixtures("secret_service")
def test_class_names_from_the_store_show_as_written(qtbot: QtBot, s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    publish(bucket, "alice/tags", sample_files(extra_train=0), class_names=(TAGGED, "y"))
    view = loaded_view(
        qtbot, workspace_for(s3_server.profile("lab", bucket=bucket.name), s3_server.secret)
    )

    row = view.tree.topLevelItem(0)
    classes = COLUMNS.index("Classes")
    assert row.text(classes) == f"{TAGGED}, y"
    assert shown(row.toolTip(classes)) == f"{TAGGED}, y"


def test_the_train_dialog_names_the_classes_as_written(qtbot: QtBot, tmp_path: Path) -> None:
    version = replace(manifest(), class_names=(TAGGED, "y"))
    dialog = open_dialog(
        qtbot, Backends.of(Workspace.default(), RunRegistry(tmp_path / "runs")), version
    )

    facts = [label_shows(label) for label in dialog.findChildren(QLabel)]
    assert any(f"2 classes ({TAGGED}, y)" in text for text in facts)
