"""Training on a host from the app: the train dialog's "Where".

The host is the real sshd of the session in its own network namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from datayard.core.hosts.registry import Host, HostRegistry
from datayard.core.store.workspace import Workspace
from datayard.gui.main_window import MainWindow
from datayard.gui.training.train_dialog import TrainDialog
from tests.fixtures.remote_host import HOST
from tests.fixtures.ssh_host import ALIAS, SshHost, known
from tests.fixtures.training import PROFILE, TrainingStore
from tests.fixtures.waits import LONG_MS


def window_on(qtbot: QtBot, profile: str) -> MainWindow:
    """The main window of a user whose default store is ``profile``'s."""
    workspace = Workspace.default()
    workspace.save(replace(workspace.settings(), default_profile=profile))
    window = MainWindow(workspace)
    qtbot.addWidget(window)
    return window


def dialog_on(qtbot: QtBot, window: MainWindow, store: TrainingStore) -> TrainDialog:
    window.datasets.reload_profiles()
    window.datasets.profile.setCurrentIndex(window.datasets.profile.findData(PROFILE))
    dialog = window.open_training_dialog(store.manifest)
    assert isinstance(dialog, TrainDialog)
    return dialog


def choose(qtbot: QtBot, dialog: TrainDialog, host: str) -> None:
    dialog.place.combo.setCurrentIndex(dialog.place.combo.findData(host))
    assert dialog.place.probing and not dialog.start.isEnabled()
    qtbot.waitUntil(lambda: not dialog.place.probing, timeout=LONG_MS)


@pytest.fixture
def unready_host(ssh_home: Path, ssh_host: SshHost) -> Iterator[SshHost]:
    """The host added, its worker environment (if a test built it) out of the way."""
    known(ssh_home, ssh_host)
    HostRegistry(Workspace.default().dirs.config).add(Host(HOST, ALIAS))
    environment = ssh_host.home / ".local/share/datayard/worker" / version("datayard")
    aside = environment.with_name(f"{environment.name}.aside")
    if environment.exists():
        environment.rename(aside)
    yield ssh_host
    if aside.exists():
        aside.rename(environment)


def test_a_host_not_set_up_offers_nothing_to_launch(
    qtbot: QtBot,
    unready_host: SshHost,
    training_store: TrainingStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = window_on(qtbot, PROFILE)
    dialog = dialog_on(qtbot, window, training_store)

    choose(qtbot, dialog, HOST)

    assert "worker environment is not ready (not set up)" in dialog.errors["where"].text()
    assert "Settings → Hosts" in dialog.errors["where"].text()
    assert not dialog.start.isEnabled()
    assert "Where" in dialog.problems_notice.text()

    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_: (str(weights), ""))
    dialog.model.activated.emit(dialog.model.count() - 1)  # "Weights file…"
    assert dialog.spec().model == str(weights)
    assert f"not on {HOST}" in dialog.errors["model"].text()  # a file of this computer

    dialog.place.combo.setCurrentIndex(0)  # this computer
    assert dialog.start.isEnabled(), dialog.problems()
    window.close()
