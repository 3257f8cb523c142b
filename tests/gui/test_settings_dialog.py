"""The settings dialog against the real Secret Service and a real SeaweedFS."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from keyring.backends import fail
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit
from pytestqt.qtbot import QtBot

from datayard.core.errors import SecretMissingError
from datayard.core.paths import AppDirs
from datayard.core.secrets import SecretStore
from datayard.core.settings import Settings
from datayard.core.store.s3 import check_profile
from datayard.core.store.workspace import Workspace
from datayard.gui.profile_editor import ProfileEditor
from datayard.gui.settings_dialog import SettingsDialog
from tests.fixtures.services import S3Server

pytestmark = pytest.mark.usefixtures("secret_service")


def type_into(qtbot: QtBot, field: QLineEdit, text: str) -> None:
    """Replace the field's text as a user does, key by key."""
    field.clear()
    qtbot.keyClicks(field, text)


def dialog_for(qtbot: QtBot, workspace: Workspace | None = None) -> SettingsDialog:
    dialog = SettingsDialog(workspace or Workspace.default())
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def fill(qtbot: QtBot, editor: ProfileEditor, **fields: str) -> None:
    for name, value in fields.items():
        type_into(qtbot, getattr(editor, name), value)


def new_profile(qtbot: QtBot, dialog: SettingsDialog, server: S3Server, **fields: str) -> None:
    dialog.add_profile()
    values = {
        "name": "lab",
        "endpoint": server.endpoint,
        "bucket": "datayard",
        "access_key": server.access_key,
        "secret": server.secret,
    }
    fill(qtbot, dialog.editor, **{**values, **fields})


def run_test_button(qtbot: QtBot, editor: ProfileEditor) -> str:
    editor.test.click()
    qtbot.waitUntil(lambda: editor.test.text() == "Test", timeout=30_000)
    return editor.result.text()


def files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_saves_the_secret_in_the_keyring_and_nowhere_on_disk(
    qtbot: QtBot, s3_server: S3Server, private_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialog = dialog_for(qtbot)
    type_into(qtbot, dialog.owner, "alice")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_: "/share/alice")
    dialog.roots.add()
    new_profile(qtbot, dialog, s3_server)
    dialog.default.setCurrentIndex(dialog.default.findData("lab"))
    assert dialog.save_button.isEnabled()

    with qtbot.waitSignal(dialog.settings_saved, timeout=10_000) as saved:
        dialog.save_button.click()
    settings = saved.args[0]
    assert settings == Workspace.default().settings()
    assert (settings.owner, settings.roots, settings.default_profile) == (
        "alice",
        ("/share/alice",),
        "lab",
    )
    assert settings.profile("lab").endpoint == s3_server.endpoint
    assert SecretStore().get("lab") == s3_server.secret
    assert files_containing(private_dirs, s3_server.secret) == []
    assert not dialog.isVisible()


def test_invalid_fields_are_shown_beside_them_and_block_save(
    qtbot: QtBot, s3_server: S3Server
) -> None:
    dialog = dialog_for(qtbot)
    new_profile(qtbot, dialog, s3_server, endpoint="minio:9000")
    editor = dialog.editor
    assert "is not a URL like https://" in editor.errors["endpoint"].text()
    assert not dialog.save_button.isEnabled()
    assert not editor.test.isEnabled()
    fields = (editor.bucket, editor.access_key, editor.secret, editor.region)

    def places() -> list[QPoint]:
        QApplication.processEvents()  # the layouts' posted requests: geometry as shown
        return [field.mapTo(dialog, field.rect().topLeft()) for field in fields]

    where = places()

    type_into(qtbot, editor.endpoint, s3_server.endpoint)
    type_into(qtbot, editor.bucket, "Not_A_Bucket")
    assert editor.errors["endpoint"].text() == ""
    # The fields below stay where they were as messages come and go: a click lands there.
    assert places() == where
    assert "is not a valid S3 bucket name" in editor.errors["bucket"].text()
    assert not dialog.save_button.isEnabled()

    type_into(qtbot, editor.bucket, "datayard")
    editor.secret.clear()
    assert "enter the secret key" in editor.errors["secret"].text()
    assert not dialog.save_button.isEnabled()

    type_into(qtbot, editor.secret, "s3cret")
    assert dialog.save_button.isEnabled()
    type_into(qtbot, dialog.owner, "no spaces allowed")
    assert "owner 'no spaces allowed' is not valid" in dialog.owner_error.text()
    assert not dialog.save_button.isEnabled()


def test_test_button_names_the_exact_problem(qtbot: QtBot, s3_server: S3Server) -> None:
    dialog = dialog_for(qtbot)
    new_profile(qtbot, dialog, s3_server, secret="not-the-secret")
    editor = dialog.editor
    message = run_test_button(qtbot, editor)
    assert "the secret key is wrong for access key 'DYTESTKEY'" in message
    assert "not-the-secret" not in message

    type_into(qtbot, editor.secret, s3_server.secret)
    assert "Connected" in run_test_button(qtbot, editor)

    type_into(qtbot, editor.endpoint, "http://127.0.0.1:9")
    assert "nothing answers at 127.0.0.1:9" in run_test_button(qtbot, editor)
    assert not editor.create_bucket.isVisible()


def test_a_missing_bucket_can_be_created(qtbot: QtBot, s3_server: S3Server) -> None:
    bucket = f"fresh-{uuid.uuid4().hex[:12]}"
    dialog = dialog_for(qtbot)
    new_profile(qtbot, dialog, s3_server, bucket=bucket)
    editor = dialog.editor
    assert f"the bucket {bucket!r} does not exist" in run_test_button(qtbot, editor)
    assert editor.create_bucket.isVisible()

    editor.create_bucket.click()
    qtbot.waitUntil(lambda: "Connected" in editor.result.text(), timeout=30_000)
    assert not editor.create_bucket.isVisible()
    check_profile(s3_server.profile(bucket=bucket), s3_server.secret)  # raises if missing


def test_without_a_secure_keyring_nothing_is_saved(qtbot: QtBot, s3_server: S3Server) -> None:
    workspace = Workspace(AppDirs.default(), SecretStore(fail.Keyring()))
    dialog = dialog_for(qtbot, workspace)
    new_profile(qtbot, dialog, s3_server)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "Nothing was saved" in dialog.save_error.text(), timeout=10_000)
    assert "no secure keyring is available" in dialog.save_error.text()
    assert "gnome-keyring" in dialog.save_error.text()
    assert dialog.isVisible()
    assert not workspace.settings_file.exists()


def test_existing_profiles_keep_their_secret_and_removed_ones_lose_it(
    qtbot: QtBot, s3_server: S3Server
) -> None:
    workspace = Workspace.default()
    workspace.secrets.set("lab", s3_server.secret)
    workspace.secrets.set("old", "old-secret")
    profiles = (s3_server.profile("lab"), s3_server.profile("old"))
    workspace.save(Settings(owner="alice", profiles=profiles, default_profile="old"))

    dialog = dialog_for(qtbot, workspace)
    dialog.profiles.setCurrentRow(1)
    assert dialog.editor.name.isReadOnly()
    assert "Connected" in run_test_button(qtbot, dialog.editor)  # with the secret from the keyring
    dialog.profiles.setCurrentRow(2)
    dialog.remove.click()
    assert dialog.default.currentData() == "local"
    with qtbot.waitSignal(dialog.settings_saved, timeout=10_000):
        dialog.save_button.click()
    settings = workspace.settings()
    assert [p.name for p in settings.profiles] == ["lab"]
    assert settings.default_profile == "local"
    assert workspace.secrets.get("lab") == s3_server.secret
    with pytest.raises(SecretMissingError):
        workspace.secrets.get("old")
