"""First start: the welcome gets a new user to a running built-in store."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from datayard.core.errors import DatayardError
from datayard.core.settings import LOCAL_PROFILE
from datayard.core.store.workspace import Workspace
from datayard.gui.settings_dialog import SettingsDialog
from datayard.gui.welcome import WelcomeDialog, is_first_start

pytestmark = pytest.mark.usefixtures("secret_service")


def row_heights(welcome: WelcomeDialog) -> list[int]:
    """The rows a user reads and clicks, as laid out now."""
    welcome.layout().activate()
    rows = (welcome.owner, welcome.folder_label, welcome.local, welcome.remote)
    return [row.height() for row in rows]


def nothing_squashed(before: list[int], after: list[int]) -> bool:
    return all(now >= then for then, now in zip(before, after, strict=True))


def test_the_built_in_store_starts_and_is_saved_as_the_default(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace.default()
    assert is_first_start(workspace)
    welcome = WelcomeDialog(workspace)
    qtbot.addWidget(welcome)
    welcome.show()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_: "/share/alice")
    welcome.choose_folder()
    welcome.owner.clear()
    qtbot.keyClicks(welcome.owner, "alice")
    before = row_heights(welcome)
    try:
        with qtbot.waitSignal(welcome.settings_saved, timeout=60_000):
            welcome.local.click()
            assert welcome.busy.isVisible() and not welcome.local.isEnabled()
            assert welcome.status.isVisible()
            assert nothing_squashed(before, row_heights(welcome))
        assert workspace.local_status().running
        settings = workspace.settings()
        assert settings.profile(LOCAL_PROFILE).embedded
        assert (settings.owner, settings.roots, settings.default_profile) == (
            "alice",
            ("/share/alice",),
            LOCAL_PROFILE,
        )
        assert workspace.secrets.get(LOCAL_PROFILE)
        assert not is_first_start(workspace)
        assert not welcome.isVisible()
    finally:
        Workspace.default().stop_local()


def test_connecting_to_a_server_opens_settings_with_the_choices_made(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[SettingsDialog] = []
    monkeypatch.setattr(SettingsDialog, "open", lambda dialog: opened.append(dialog))
    welcome = WelcomeDialog(Workspace.default())
    qtbot.addWidget(welcome)
    welcome.set_folder("/share/alice")
    welcome.remote.click()
    (dialog,) = opened
    assert dialog.owner.text() == welcome.owner.text()
    assert dialog.roots.roots() == ("/share/alice",)
    assert dialog.editor.isVisibleTo(dialog) and dialog.editor.name.text() == "minio"
    assert not dialog.save_button.isEnabled()  # the new profile still needs its endpoint


def test_an_invalid_owner_blocks_both_choices(qtbot: QtBot) -> None:
    welcome = WelcomeDialog(Workspace.default())
    qtbot.addWidget(welcome)
    welcome.owner.clear()
    qtbot.keyClicks(welcome.owner, "a/b")
    assert "owner 'a/b' is not valid" in welcome.owner_error.text()
    assert not welcome.local.isEnabled() and not welcome.remote.isEnabled()


def test_a_store_that_does_not_start_says_why_without_squashing_the_choices(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object) -> None:
        raise DatayardError("port 8333 is taken by another program")

    monkeypatch.setattr("datayard.gui.welcome.start_with_local_store", fail)
    welcome = WelcomeDialog(Workspace.default())
    qtbot.addWidget(welcome)
    welcome.show()
    before = row_heights(welcome)
    welcome.local.click()
    qtbot.waitUntil(lambda: "did not start" in welcome.status.text())
    assert "port 8333 is taken" in welcome.status.text() and welcome.local.isEnabled()
    assert welcome.status.height() >= 2 * welcome.status.fontMetrics().lineSpacing()
    assert nothing_squashed(before, row_heights(welcome))
