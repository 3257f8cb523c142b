"""Training on a host from the app: the train dialog's "Where", the launch, and the
dashboard following the run, again after the app restarted.

The host is the real sshd of the session in its own network namespace, the
run a tiny real training on its CPU that reaches the session's store (on this
machine's loopback) through its SSH connection's tunnel.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import psutil
import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from datayard.core.hosts.registry import Host, HostRegistry
from datayard.core.store.workspace import Workspace
from datayard.core.training.curves import TRAIN
from datayard.core.training.runs import RunFolder, RunStatus
from datayard.core.training.ssh import RemoteRun
from datayard.gui.main_window import MainWindow
from datayard.gui.training.place_choice import NO_GPU
from datayard.gui.training.train_dialog import TrainDialog
from tests.fixtures.remote_host import HOST, host_events
from tests.fixtures.ssh_host import ALIAS, SshHost, known
from tests.fixtures.training import PROFILE, TrainingStore
from tests.fixtures.waits import LONG_MS
from tests.gui.test_dashboard import points, row
from tests.gui.test_train_dialog import cannot_train, texts

RUN_MS = 180_000
EPOCHS = 12
"""A tiny run on the host: its worker starts, pulls the set through the tunnel, trains."""


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


def run_processes(host: SshHost, folder: RunFolder, word: str) -> list[psutil.Process]:
    """The host's processes for the run whose command has ``word``: its ``worker``, the
    ``follow`` that streams its events to this computer."""
    there = RemoteRun.read(folder).folder
    return [
        process
        for process in psutil.process_iter(["username", "cmdline"])
        if process.info["username"] == host.user
        and word in (command := process.info["cmdline"] or [])
        and there in command
    ]


def test_a_run_launched_on_a_host_is_followed_here_and_again_after_the_app_restarts(
    qtbot: QtBot, remote: SshHost, training_store: TrainingStore
) -> None:
    window = window_on(qtbot, PROFILE)
    dialog = dialog_on(qtbot, window, training_store)
    place = dialog.place
    offered = [place.combo.itemText(i) for i in range(place.combo.count())]
    assert offered == ["This computer", f"{HOST} ({ALIAS})"]

    choose(qtbot, dialog, HOST)

    assert place.gpus.text() == NO_GPU  # the test host has none
    assert "depends on this computer staying connected" in place.note.text()
    assert f"Host {HOST}: no GPU" in texts(dialog)  # the device's explanation
    assert f"on host {HOST}, on the CPU" in dialog.summary.text()
    assert "keep the app open" in dialog.summary.text()
    # Epochs enough that the worker, held once the first epoch is seen here, still has
    # batches to train (where it hears the pause) however fast it got there.
    for spin, value in ((dialog.epochs, EPOCHS), (dialog.imgsz, 64), (dialog.batch, 4)):
        spin.setValue(value)
    dialog.workers.setValue(0)
    dialog.device.setCurrentText("cpu")
    dialog.plots.setChecked(False)
    assert dialog.start.isEnabled(), dialog.problems()
    with qtbot.waitSignal(dialog.launched, timeout=LONG_MS) as launched:
        dialog.start.click()
    folder = launched.args[0]
    assert window.backend.where(folder) == HOST

    # The dashboard follows it over SSH: its curves grow here.
    dashboard = window.training.chart()
    qtbot.waitUntil(
        lambda: points(dashboard, "epoch:box_loss", folder.run_id, TRAIN + "box_loss") >= 1,
        timeout=RUN_MS,
    )
    assert row(dashboard, folder.run_id)["Where"] == HOST
    # The app quits while the run trains: held on the host, so it cannot end meanwhile.
    (worker,) = run_processes(remote, folder, "worker")
    worker.send_signal(signal.SIGSTOP)
    try:
        copied = folder.events_file.read_text()
        assert not folder.summary().status.ended
        earlier = set(run_processes(remote, folder, "follow"))  # silent: they may outlive it
        window.show_datasets()  # the next start opens there, not on the Training tab
        dashboard.select_runs([])  # kept unselected: the next start follows it all the same
        window.close()

        # The restarted app follows it again by itself, and controls it over SSH.
        later = MainWindow(Workspace.default())
        qtbot.addWidget(later)
        later.start()
        assert later.tabs.currentWidget() is later.datasets
        qtbot.waitUntil(lambda: later.training.built, timeout=LONG_MS)
        qtbot.waitUntil(
            lambda: bool(set(run_processes(remote, folder, "follow")) - earlier), timeout=LONG_MS
        )
        dashboard = later.training.chart()
        assert dashboard.runs.selected_ids() == []  # followed all the same
        qtbot.waitUntil(lambda: dashboard.runs.topLevelItemCount() == 1, timeout=LONG_MS)
        dashboard.select_runs([folder.run_id])
        qtbot.waitUntil(dashboard.pause_button.isEnabled, timeout=LONG_MS)
        dashboard.pause_button.click()  # heard once the worker goes on
        qtbot.waitUntil(lambda: "asked to pause" in dashboard.notice.text(), timeout=LONG_MS)
    finally:
        worker.send_signal(signal.SIGCONT)

    qtbot.waitUntil(lambda: folder.summary().status is RunStatus.PAUSED, timeout=RUN_MS)
    text = folder.events_file.read_text()
    assert text.startswith(copied) and len(text) > len(copied)
    qtbot.waitUntil(dashboard.resume_button.isEnabled, timeout=LONG_MS)
    dashboard.resume_button.click()
    qtbot.waitUntil(lambda: folder.summary().status is RunStatus.FINISHED, timeout=RUN_MS)
    qtbot.waitUntil(
        lambda: row(dashboard, folder.run_id)["Status"].startswith("finished"), timeout=LONG_MS
    )
    assert folder.events_file.read_text() == host_events(remote, folder)  # each event once
    assert points(dashboard, "epoch:box_loss", folder.run_id, TRAIN + "box_loss") == EPOCHS
    later.close()


def test_a_host_trains_whatever_this_computers_training_support(
    qtbot: QtBot, remote: SshHost, training_store: TrainingStore
) -> None:
    window = window_on(qtbot, PROFILE)
    dialog = TrainDialog(
        training_store.manifest, window.backend, profile=PROFILE, support=cannot_train()
    )
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.training_support.isVisible() and not dialog.start.isEnabled()

    choose(qtbot, dialog, HOST)

    assert not dialog.training_support.isVisible()
    assert dialog.start.isEnabled(), dialog.problems()

    dialog.place.combo.setCurrentIndex(0)  # this computer, which cannot train
    assert dialog.training_support.isVisible() and not dialog.start.isEnabled()
    window.close()


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
    dialog.reject()
    window.close()
