"""Adding a training host: its name and destination, then a first login in the background.

The login settles what the user must settle in person before a host trains:
an unknown host key is shown with its fingerprint for them to compare and
accept (refusing is the default), a changed key is shown as the refusal it
is, and a key passphrase is asked in a password field and kept in the
keyring once it has opened the key.
"""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from datayard.core.errors import (
    DatayardError,
    HostKeyChangedError,
    HostKeyUnknownError,
    HostPassphraseError,
)
from datayard.core.events import CancelToken, Finished
from datayard.core.hosts.enrolment import add_host
from datayard.core.hosts.registry import Host, HostRegistry
from datayard.core.hosts.ssh import accept_host_key
from datayard.core.secrets import SecretStore

from .notice import Notice
from .operation_bar import describe_error
from .rich_text import plain_label
from .workers import Operation, run_in_background


class AddHostDialog(QDialog):
    added = Signal(object)
    """The :class:`Host` just added."""

    def __init__(
        self, registry: HostRegistry, secrets: SecretStore, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a training host")
        self.registry = registry
        self.secrets = secrets
        self.key_dialog: HostKeyDialog | None = None
        self._operation: Operation | None = None
        self._taken = {host.name for host in registry.all()}
        self.name = QLineEdit(placeholderText="gpu1")
        self.destination = QLineEdit(
            placeholderText="alice@gpu-box.lab:22, or a Host of ~/.ssh/config"
        )
        self.passphrase = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.passphrase.setPlaceholderText("kept in the keyring once it opens your key")
        self.passphrase_label = QLabel("Key passphrase:")
        self.problem = Notice()
        self.status = Notice()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("Add", QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setDefault(True)
        self.buttons.accepted.connect(self.log_in)
        self.buttons.rejected.connect(self.reject)

        intro = plain_label(
            "The host is reached as ssh reaches it: your ~/.ssh/config (HostName, User, "
            "Port, IdentityFile, ProxyJump), the ssh-agent and ~/.ssh/known_hosts. Adding "
            "it logs in once."
        )
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name:", self.name)
        form.addRow("Destination:", self.destination)
        form.addRow(self.passphrase_label, self.passphrase)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.status)
        layout.addStretch()
        layout.addWidget(self.buttons)
        self.resize(560, 260)
        self._ask_passphrase(False)
        for line in (self.name, self.destination):
            line.textChanged.connect(self._check)
        self._check()

    def host(self) -> Host:
        return Host(name=self.name.text().strip(), destination=self.destination.text().strip())

    def log_in(self, accepted_key: str = "") -> None:
        """Log in in the background; ``accepted_key`` (a known_hosts line) is trusted first."""
        host = self.host()
        passphrase = self.passphrase.text() if self.passphrase.isEnabled() else None

        def work(token: CancelToken) -> Iterator[object]:
            if accepted_key:
                accept_host_key(accepted_key)
            add_host(self.registry, host, self.secrets, passphrase=passphrase, cancel=token)
            yield Finished(host)

        operation = run_in_background(work, self)
        operation.finished.connect(lambda added: self._added(operation, added))
        operation.failed.connect(lambda error: self._refused(operation, error))
        operation.ended.connect(lambda: self._ended(operation))
        self._operation = operation
        self.status.info(f"Logging in to {host.destination}…")
        self._check()

    def reject(self) -> None:
        """A login under way ends without adding the host."""
        if self._operation is not None:
            self._operation.cancel()
            self._operation = None
        super().reject()

    def _check(self) -> None:
        busy = self._operation is not None
        for field in (self.name, self.destination, self.passphrase):
            field.setReadOnly(busy)
        problem = ""
        if self.name.text().strip() in self._taken:
            problem = f"There is a host named {self.name.text().strip()!r} already."
        elif self.name.text().strip() and self.destination.text().strip():
            try:
                self.host().validated()
            except DatayardError as error:
                problem = str(error)
        if problem:
            self.problem.error(problem)
        else:
            self.problem.clear()
        complete = bool(self.name.text().strip() and self.destination.text().strip())
        self.add_button.setEnabled(complete and not problem and not busy)

    def _added(self, operation: Operation, host: Host) -> None:
        if operation is not self._operation:
            return
        self._ended(operation)
        self.added.emit(host)
        self.accept()

    def _refused(self, operation: Operation, error: Exception) -> None:
        if operation is not self._operation:
            return
        self._ended(operation)  # the fields are the user's again as the answer shows
        if isinstance(error, HostKeyUnknownError):
            self.status.info("The host presents a key this computer does not know yet.")
            self._show_key(error)
        elif isinstance(error, HostPassphraseError) and error.needed:
            self._ask_passphrase(True)
            self.status.info(f"{error}.")
        elif isinstance(error, HostPassphraseError):
            self.passphrase.clear()
            self.status.error(f"{error}. Type it again.")
        elif isinstance(error, HostKeyChangedError):
            self.status.error(f"Refused: {error}. The host was not added.")
        else:
            self.status.error(f"{describe_error(error)}\nThe host was not added.")

    def _ended(self, operation: Operation) -> None:
        if operation is self._operation:
            self._operation = None
            self._check()

    def _show_key(self, error: HostKeyUnknownError) -> None:
        host = self.host()
        self.key_dialog = HostKeyDialog(host, error, self)
        self.key_dialog.accepted.connect(lambda: self.log_in(error.known_hosts_line))
        self.key_dialog.rejected.connect(
            lambda: self.status.error("The host key was not accepted: the host was not added.")
        )
        self.key_dialog.open()

    def _ask_passphrase(self, needed: bool) -> None:
        self.passphrase_label.setVisible(needed)
        self.passphrase.setVisible(needed)
        self.passphrase.setEnabled(needed)
        if needed:
            self.passphrase.setFocus()


class HostKeyDialog(QDialog):
    """An unknown host key, for the user to compare with the one the host's administrator
    gives; refusing is the default, so Enter never accepts a key."""

    def __init__(self, host: Host, error: HostKeyUnknownError, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Unknown host key")
        where, key_type = error.known_hosts_line.split()[:2]
        self.heading = plain_label(
            f"{host.name} ({host.destination}, at {where}) presents a host key that this "
            "computer has not seen before:"
        )
        self.heading.setWordWrap(True)
        self.fingerprint = plain_label(error.fingerprint)
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setWeight(QFont.Weight.Bold)
        self.fingerprint.setFont(font)
        kind = plain_label(f"{key_type} key, SHA256 fingerprint")
        advice = plain_label(
            "Compare it with the fingerprint the host's administrator gives you (on the "
            "host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub). Accept it only if "
            "they match: another key may mean that someone is intercepting the connection."
        )
        advice.setWordWrap(True)
        buttons = QDialogButtonBox()
        self.accept_button = buttons.addButton("Accept", QDialogButtonBox.ButtonRole.AcceptRole)
        self.refuse_button = buttons.addButton(
            "Don't accept", QDialogButtonBox.ButtonRole.RejectRole
        )
        self.accept_button.setAutoDefault(False)
        self.refuse_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.fingerprint)
        layout.addWidget(kind)
        layout.addWidget(advice)
        layout.addWidget(buttons)
        self.resize(560, 220)
        self.refuse_button.setFocus()
