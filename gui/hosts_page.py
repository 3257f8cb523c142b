"""Settings' Hosts page: the machines that train over SSH, added, tested and set up.

Each action takes effect at once, as ``datayard host`` does: a login accepts a
host key there and then, and a setup is work done on the host, so nothing here
waits for the dialog's Save. Whatever reaches a host runs in one background
operation at a time, which Cancel, or closing the dialog, stops.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from datayard.core.checks import Check, State
from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken, check_cancel
from datayard.core.hosts.enrolment import remove_host
from datayard.core.hosts.login import stored_passphrase
from datayard.core.hosts.probe import test_host
from datayard.core.hosts.registry import Host, HostRegistry
from datayard.core.hosts.worker_env import Phase, SetupStep, set_up, with_base_python
from datayard.core.store.workspace import Workspace

from .host_dialogs import AddHostDialog
from .notice import ERROR_COLOR, OK_COLOR, WARN_COLOR, Notice
from .operation_bar import describe_error
from .rich_text import as_written, plain_label, quoted
from .workers import Operation, call_in_background, run_in_background

COLUMNS = ("Host", "Destination", "Python")
MUTED = "#808080"
"""For a fix under its line: readable on light and dark palettes, quieter than the text."""
MARKS = {State.OK: ("✓", OK_COLOR), State.WARN: ("!", WARN_COLOR), State.FAIL: ("✗", ERROR_COLOR)}
DEFAULT_PYTHON = "the host's python3"
_PHASES = list(Phase)
T = TypeVar("T")


class HostsPage(QWidget):
    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.registry = HostRegistry(workspace.dirs.config)
        self.add_dialog: AddHostDialog | None = None
        self._operation: Operation | None = None

        self.list = QTreeWidget()
        self.list.setHeaderLabels(list(COLUMNS))
        self.list.setRootIsDecorated(False)
        self.list.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add a machine you reach with ssh")
        self.remove_button = QPushButton("Remove")
        self.load_error = Notice()

        self.title = plain_label()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip(
            "Log in and check the host: Python, GPUs, disk, the store, the worker environment"
        )
        self.setup_button = QPushButton("Set up")
        self.setup_button.setToolTip(
            "Make the worker environment on the host: this Datayard and what training needs"
        )
        self.python = QLineEdit()
        self.python.setPlaceholderText(f"{DEFAULT_PYTHON}, or one with torch already")
        self.wheelhouse = QLineEdit()
        self.wheelhouse.setPlaceholderText("its package index, or a folder of wheels there")
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.checks = QTextBrowser()
        self._checks: list[Check] = []
        self.setup_log = QPlainTextEdit()
        self.setup_log.setReadOnly(True)
        self.output = QStackedWidget()
        self.output.addWidget(self.checks)
        self.output.addWidget(self.setup_log)
        self.result = Notice()

        self._lay_out()
        self.add_button.clicked.connect(self.add_host)
        self.remove_button.clicked.connect(self.remove_host)
        self.test_button.clicked.connect(self.test_host)
        self.setup_button.clicked.connect(self.set_up_host)
        self.cancel_button.clicked.connect(self.cancel)
        self.list.currentItemChanged.connect(lambda *_: self._show_host())
        self.reload()

    # -- the list --------------------------------------------------------------------

    def reload(self, select: str = "") -> None:
        """Read the hosts file again (a few lines) and show it, ``select`` chosen."""
        current = select or self.current_name()
        try:
            hosts = self.registry.all()
            self.load_error.clear()
        except DatayardError as error:
            hosts = []
            self.load_error.error(str(error))
        self.list.clear()
        for host in hosts:
            row = QTreeWidgetItem([host.name, host.destination, host.python or DEFAULT_PYTHON])
            row.setData(0, Qt.ItemDataRole.UserRole, host)
            for column in range(len(COLUMNS)):
                row.setToolTip(column, as_written(row.text(column)))
            self.list.addTopLevelItem(row)
            if host.name == current:
                self.list.setCurrentItem(row)
        first = self.list.topLevelItem(0)
        if self.list.currentItem() is None and first is not None:
            self.list.setCurrentItem(first)
        self._show_host()

    def current(self) -> Host | None:
        row = self.list.currentItem()
        host = row.data(0, Qt.ItemDataRole.UserRole) if row is not None else None
        return host if isinstance(host, Host) else None

    def current_name(self) -> str:
        host = self.current()
        return host.name if host else ""

    # -- actions ---------------------------------------------------------------------

    def add_host(self) -> AddHostDialog:
        self.add_dialog = AddHostDialog(self.registry, self.workspace.secrets, self)
        self.add_dialog.added.connect(self._added)
        self.add_dialog.open()
        return self.add_dialog

    def remove_host(self) -> None:
        host = self.current()
        if host is None:
            return
        answer = QMessageBox.question(
            self,
            "Remove host",
            as_written(
                f"Remove host {host.name} ({host.destination})? Runs that trained there stay "
                "listed; its worker environment stays on the host."
            ),
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        registry, secrets = self.registry, self.workspace.secrets
        operation = call_in_background(lambda: remove_host(registry, host.name, secrets), self)
        self._track(operation, f"Removing {host.name}…", steps=0)
        operation.finished.connect(lambda _: self._changed(f"Removed {host.name}."))

    def test_host(self) -> None:
        host = self.current()
        if host is None:
            return
        self._show_checks([])
        self.output.setCurrentWidget(self.checks)
        operation = run_in_background(self._testing(host), self)
        self._track(operation, f"Testing {host.name}…", steps=0)
        operation.finished.connect(lambda _: self._tested(host))

    def set_up_host(self) -> None:
        host = self.current()
        if host is None:
            return
        try:
            target = with_base_python(host, self.python.text().strip() or None)
        except DatayardError as error:
            self.result.error(str(error))
            return
        self.setup_log.clear()
        self.output.setCurrentWidget(self.setup_log)
        operation = run_in_background(self._setting_up(target), self)
        self._track(operation, f"Setting up {host.name}…", steps=len(_PHASES) - 1)
        operation.finished.connect(
            lambda _: self._changed(f"{host.name} is set up: runs can start there.")
        )

    def cancel(self) -> None:
        if self._operation is not None:
            self._operation.cancel()

    def stop(self) -> None:
        """Cancel what runs; called when the dialog closes."""
        self.cancel()
        if self.add_dialog is not None:
            self.add_dialog.reject()

    # -- background work -------------------------------------------------------------

    def _testing(self, host: Host) -> Callable[[CancelToken], Iterator[object]]:
        workspace = self.workspace

        def run(token: CancelToken) -> Iterator[object]:
            checks = test_host(
                host,
                store_endpoint=workspace.endpoint(),
                passphrase=stored_passphrase(host, workspace.secrets),
            )
            yield from _until_cancelled(checks, token)

        return run

    def _setting_up(self, host: Host) -> Callable[[CancelToken], Iterator[object]]:
        workspace, registry = self.workspace, self.registry
        wheelhouse = self.wheelhouse.text().strip()

        def run(token: CancelToken) -> Iterator[object]:
            steps = set_up(
                host,
                cache=workspace.dirs.cache,
                wheelhouse=wheelhouse,
                secrets=workspace.secrets,
                cancel=token,
            )
            yield from _until_cancelled(steps, token)
            if host.python:
                registry.update(host)  # the Python it is built on, for later setups

        return run

    def _track(self, operation: Operation, doing: str, *, steps: int) -> None:
        """Show ``operation`` until it ends; ``steps`` of progress, or 0 for a busy bar."""
        self.result.info(doing)
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self.progress.setFormat(doing)
        operation.yielded.connect(self._on_event)
        operation.failed.connect(lambda error: self.result.error(describe_error(error)))
        operation.cancelled.connect(lambda: self.result.info(f"Cancelled: {doing[:-1]}."))
        operation.ended.connect(lambda: self._ended(operation))
        self._operation = operation
        self._update()

    def _on_event(self, event: object) -> None:
        if isinstance(event, Check):
            self._show_checks([*self._checks, event])
        elif isinstance(event, SetupStep):
            step = _PHASES.index(event.phase)
            self.progress.setFormat(f"Step {step + 1} of {len(_PHASES)}: {event.phase}")
            self.progress.setValue(step)
            self.setup_log.appendPlainText(
                f"{event.phase}: {event.detail}" if event.detail else str(event.phase)
            )

    def _show_checks(self, checks: list[Check]) -> None:
        """One line per answer, as ``datayard host test`` prints them, the fix below."""
        self._checks = checks
        lines = []
        for check in checks:
            mark, colour = MARKS[check.state]
            hint = (
                f'<br><span style="color: {MUTED}">&nbsp;&nbsp;&nbsp;→ {quoted(check.hint)}</span>'
                if check.hint
                else ""
            )
            lines.append(
                f'<p style="margin: 0 0 4px 0"><b style="color: {colour}">{mark}</b> '
                f"<b>{quoted(check.name)}</b>: {quoted(check.detail)}{hint}</p>"
            )
        self.checks.setHtml("".join(lines))

    def _tested(self, host: Host) -> None:
        if any(check.state is State.FAIL for check in self._checks):
            self.result.error(f"{host.name} cannot train yet: see the lines marked ✗.")
        else:
            self.result.success(f"{host.name} can train.")

    def _changed(self, done: str) -> None:
        self.reload()
        self.result.success(done)

    def _added(self, host: Host) -> None:
        self.reload(select=host.name)
        self.result.success(f"Added {host.name}: test it, then set it up to train there.")

    def _ended(self, operation: Operation) -> None:
        if operation is self._operation:
            self._operation = None
            self._update()

    # -- showing ---------------------------------------------------------------------

    def _show_host(self) -> None:
        host = self.current()
        self.title.setText(f"{host.name}: {host.destination}" if host else "No host yet")
        self.python.setText(host.python if host else "")
        self._update()

    def _update(self) -> None:
        busy = self._operation is not None
        chosen = self.current() is not None
        for button in (self.remove_button, self.test_button, self.setup_button):
            button.setEnabled(chosen and not busy)
        self.add_button.setEnabled(not busy)
        self.list.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _lay_out(self) -> None:
        intro = plain_label(
            "Machines that train over SSH, reached as ssh reaches them (~/.ssh/config, the "
            "ssh-agent, ~/.ssh/known_hosts). Changes here take effect at once."
        )
        intro.setWordWrap(True)
        list_buttons = QHBoxLayout()
        list_buttons.addWidget(self.add_button)
        list_buttons.addWidget(self.remove_button)
        list_buttons.addStretch()
        left = QVBoxLayout()
        left.addWidget(self.list)
        left.addLayout(list_buttons)
        left.addWidget(self.load_error)

        actions = QHBoxLayout()
        actions.addWidget(self.title, 1)
        actions.addWidget(self.test_button)
        actions.addWidget(self.setup_button)
        options = QFormLayout()
        options.addRow("Python on the host:", self.python)
        options.addRow("Wheelhouse on the host:", self.wheelhouse)
        running = QHBoxLayout()
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel_button)
        right = QVBoxLayout()
        right.addLayout(actions)
        right.addLayout(options)
        right.addLayout(running)
        right.addWidget(self.output, 1)
        right.addWidget(self.result)

        columns = QHBoxLayout()
        columns.addLayout(left, 2)
        columns.addLayout(right, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(columns, 1)


def _until_cancelled(items: Generator[T, None, None], token: CancelToken) -> Iterator[T]:
    """``items`` until ``token`` is set, between any two; a cancelled one is closed at once,
    so its connection to the host is too."""
    with closing(items):
        for item in items:
            check_cancel(token)
            yield item
