"""Settings' Hosts page against the real sshd of the test host.

The user's OpenSSH set-up is a temporary home (``ssh_home``) whose
~/.ssh/config reaches the host by an alias; ~/.ssh/known_hosts starts empty
unless a test says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox
from pytestqt.qtbot import QtBot

from datayard.core.hosts.registry import Host, HostRegistry
from datayard.core.secrets import SecretStore
from datayard.core.store.workspace import Workspace
from datayard.gui.host_dialogs import AddHostDialog, HostKeyDialog
from datayard.gui.hosts_page import HostsPage
from datayard.gui.settings_dialog import HOSTS_TAB, SettingsDialog
from tests.fixtures.remote_host import HOST
from tests.fixtures.ssh_host import (
    ALIAS,
    SshHost,
    known,
    known_with_another_key,
    locked_key,
    write_config,
)
from tests.fixtures.waits import LONG_MS

pytestmark = pytest.mark.usefixtures("secret_service")
SETUP_MS = 300_000
"""A first setup builds Datayard's wheel and a virtual environment on the host."""


def settings_on_hosts(qtbot: QtBot) -> SettingsDialog:
    dialog = SettingsDialog(Workspace.default())
    qtbot.addWidget(dialog)
    dialog.tabs.setCurrentIndex(HOSTS_TAB)
    dialog.show()
    return dialog


def registry() -> HostRegistry:
    return HostRegistry(Workspace.default().dirs.config)


def fill_in(qtbot: QtBot, page: HostsPage, name: str = HOST) -> AddHostDialog:
    page.add_button.click()
    dialog = page.add_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.keyClicks(dialog.name, name)
    qtbot.keyClicks(dialog.destination, ALIAS)
    return dialog


def key_shown(qtbot: QtBot, dialog: AddHostDialog) -> HostKeyDialog:
    """Press Add and wait for the host's key to be shown."""
    dialog.key_dialog = None
    dialog.add_button.click()
    qtbot.waitUntil(lambda: dialog.key_dialog is not None, timeout=LONG_MS)
    assert dialog.key_dialog is not None and dialog.key_dialog.isVisible()
    return dialog.key_dialog


def listed(page: HostsPage) -> list[tuple[str, str, str]]:
    rows = (page.list.topLevelItem(i) for i in range(page.list.topLevelItemCount()))
    return [(row.text(0), row.text(1), row.text(2)) for row in rows if row is not None]


def test_an_unknown_host_key_is_shown_and_the_host_added_only_once_it_is_accepted(
    qtbot: QtBot, ssh_home: Path, ssh_host: SshHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_on_hosts(qtbot)
    page = settings.hosts
    dialog = fill_in(qtbot, page)

    shown = key_shown(qtbot, dialog)
    assert shown.fingerprint.text() == ssh_host.host_fingerprint
    assert f"{HOST} ({ALIAS}, at [{ssh_host.address}]:{ssh_host.port})" in shown.heading.text()
    assert shown.refuse_button.isDefault() and not shown.accept_button.isDefault()
    qtbot.keyClick(shown, Qt.Key.Key_Return)  # Enter refuses
    assert not shown.isVisible()
    assert "not accepted" in dialog.status.text()
    assert not (ssh_home / ".ssh" / "known_hosts").exists()
    assert registry().all() == [] and listed(page) == []

    shown = key_shown(qtbot, dialog)
    with qtbot.waitSignal(dialog.added, timeout=LONG_MS):
        shown.accept_button.click()

    assert registry().all() == [Host(HOST, ALIAS)]
    assert listed(page) == [(HOST, ALIAS, "the host's python3")]
    assert ssh_host.host_public_key.split()[1] in (ssh_home / ".ssh" / "known_hosts").read_text()

    monkeypatch.setattr(QMessageBox, "question", lambda *_: QMessageBox.StandardButton.Yes)
    page.remove_button.click()
    qtbot.waitUntil(lambda: not page.cancel_button.isVisible(), timeout=LONG_MS)
    assert registry().all() == [] and listed(page) == []


def test_a_changed_host_key_is_refused_not_offered(
    qtbot: QtBot, ssh_home: Path, ssh_host: SshHost, tmp_path: Path
) -> None:
    known_with_another_key(ssh_home, ssh_host, tmp_path)
    settings = settings_on_hosts(qtbot)
    page = settings.hosts
    dialog = fill_in(qtbot, page)

    dialog.add_button.click()

    qtbot.waitUntil(lambda: "CHANGED" in dialog.status.text(), timeout=LONG_MS)
    assert ssh_host.host_fingerprint in dialog.status.text()
    assert "ssh-keygen -R" in dialog.status.text()
    assert dialog.key_dialog is None  # nothing offered for acceptance
    assert registry().all() == []


def test_a_key_passphrase_is_asked_hidden_and_kept_in_the_keyring_once_it_works(
    qtbot: QtBot, ssh_home: Path, ssh_host: SshHost, tmp_path: Path
) -> None:
    write_config(ssh_home, ssh_host, locked_key(ssh_host, tmp_path / "id_locked", "open sesame"))
    known(ssh_home, ssh_host)
    settings = settings_on_hosts(qtbot)
    page = settings.hosts
    dialog = fill_in(qtbot, page)
    assert not dialog.passphrase.isVisible()

    dialog.add_button.click()
    qtbot.waitUntil(dialog.passphrase.isVisible, timeout=LONG_MS)
    assert dialog.passphrase.echoMode() is QLineEdit.EchoMode.Password
    assert "passphrase" in dialog.status.text()

    qtbot.keyClicks(dialog.passphrase, "open says me")
    dialog.add_button.click()
    qtbot.waitUntil(lambda: "wrong" in dialog.status.text(), timeout=LONG_MS)
    assert SecretStore().host_passphrase(HOST) is None  # a wrong one is not kept
    assert registry().all() == []

    qtbot.keyClicks(dialog.passphrase, "open sesame")
    with qtbot.waitSignal(dialog.added, timeout=LONG_MS):
        dialog.add_button.click()
    assert SecretStore().host_passphrase(HOST) == "open sesame"
    assert registry().all() == [Host(HOST, ALIAS)]
    SecretStore().delete_host_passphrase(HOST)


def test_set_up_makes_the_host_ready_and_test_answers_each_question(
    qtbot: QtBot, ssh_home: Path, ssh_host: SshHost
) -> None:
    known(ssh_home, ssh_host)
    registry().add(Host(HOST, ALIAS))
    settings = settings_on_hosts(qtbot)
    page = settings.hosts
    assert page.current_name() == HOST

    page.python.setText("/no/such/python")
    page.setup_button.click()
    qtbot.waitUntil(lambda: not page.cancel_button.isVisible(), timeout=LONG_MS)
    assert "has no Python" in page.result.text()  # an error, with its message

    page.python.setText(str(ssh_host.python))
    page.setup_button.click()
    page.cancel_button.click()
    qtbot.waitUntil(lambda: not page.cancel_button.isVisible(), timeout=LONG_MS)
    assert page.result.text() == f"Cancelled: Setting up {HOST}."
    assert registry().get(HOST).python == ""

    steps: list[str] = []
    page.progress.valueChanged.connect(lambda _: steps.append(page.progress.format()))
    page.setup_button.click()
    qtbot.waitUntil(lambda: not page.cancel_button.isVisible(), timeout=SETUP_MS)
    assert page.result.text() == f"{HOST} is set up: runs can start there.", (
        page.setup_log.toPlainText()
    )
    # Either built now or already built by another test of the session: both end ready.
    assert steps[-1] == "Step 6 of 6: ready"
    assert "ready:" in page.setup_log.toPlainText()
    assert registry().get(HOST).python == str(ssh_host.python)
    assert listed(page) == [(HOST, ALIAS, str(ssh_host.python))]

    shown: list[str] = []
    page.checks.textChanged.connect(lambda: shown.append(page.checks.toPlainText()))
    page.test_button.click()
    qtbot.waitUntil(lambda: not page.cancel_button.isVisible(), timeout=LONG_MS)
    text = page.checks.toPlainText()
    lines = {line[2:].split(":")[0]: line for line in text.splitlines() if line[:1] in "✓!✗"}
    assert list(lines) == [
        *("reachable", "host key", "authentication", "python", "gpus", "disk", "store", "worker")
    ]
    assert lines["python"].startswith("✓") and "Python 3." in lines["python"]
    assert lines["gpus"].startswith("!") and "none" in lines["gpus"]
    assert "→ runs there train on the CPU" in text  # the hint, under its line
    assert lines["store"].startswith("!") and "loopback" in lines["store"]
    assert lines["worker"].startswith("✓")
    assert len(shown) > len(lines)  # each line shown as it came
    assert page.result.text() == f"{HOST} can train."
