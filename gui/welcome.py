"""First start: a short welcome that gets a new user to a working store in a minute.

The built-in store needs no server and no credentials to type, so it is the
first choice; a team MinIO server can be set up now or later in Settings.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCommandLinkButton,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from datayard.core.datasets.manifest import check_name
from datayard.core.errors import DatayardError
from datayard.core.settings import Settings
from datayard.core.store.profiles import start_with_local_store
from datayard.core.store.workspace import Workspace

from .notice import Notice
from .rich_text import plain_label
from .settings_dialog import SettingsDialog
from .workers import Operation, run_in_background


def is_first_start(workspace: Workspace) -> bool:
    """No settings file yet: nobody has chosen a store or a folder on this account."""
    return not workspace.settings_file.exists()


class WelcomeDialog(QDialog):
    settings_saved = Signal(object)
    """The :class:`Settings` written by whichever way the user chose."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to Datayard")
        self.workspace = workspace
        self.folder = ""
        self._operation: Operation | None = None

        intro = QLabel(
            "<h2>Welcome to Datayard</h2>"
            "<p>Datayard keeps versions of your image sets in an S3 store, ready to train "
            "on. Tell it who you are and where your data is, pick a store, and you can "
            "push your first dataset.</p>"
        )
        intro.setWordWrap(True)
        self.owner = QLineEdit(workspace_owner(workspace))
        self.owner.textEdited.connect(self._validate)
        self.owner_error = Notice(reserved=True)
        self.folder_label = plain_label("not chosen yet (you can add folders later in Settings)")
        self.folder_label.setWordWrap(True)
        choose = QPushButton("Choose your shared-drive folder…")
        choose.clicked.connect(self.choose_folder)

        owner_cell = QVBoxLayout()
        owner_cell.addWidget(self.owner)
        owner_cell.addWidget(self.owner_error)
        folder_cell = QVBoxLayout()
        folder_cell.addWidget(self.folder_label)
        folder_row = QHBoxLayout()
        folder_row.addWidget(choose)
        folder_row.addStretch()
        folder_cell.addLayout(folder_row)
        form = QFormLayout()
        form.addRow("Your name in the store:", owner_cell)
        form.addRow("Your folder:", folder_cell)

        self.local = QCommandLinkButton(
            "Start with the built-in store",
            "Runs on this computer, nothing to set up. You can add a team server later.",
        )
        self.local.clicked.connect(self.start_local)
        self.remote = QCommandLinkButton(
            "Connect to a MinIO server…",
            "Your team's MinIO or another S3-compatible store: endpoint, bucket and keys.",
        )
        self.remote.clicked.connect(self.connect_server)

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self._cancel)
        busy = QHBoxLayout()
        busy.addWidget(self.progress)
        busy.addWidget(self.cancel)
        self.busy = QWidget()
        self.busy.setLayout(busy)
        policy = self.busy.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # its room is kept: the rows above stay put
        self.busy.setSizePolicy(policy)
        self.busy.hide()
        self.status = Notice()
        later = QPushButton("Not now")
        later.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addStretch()
        bottom.addWidget(later)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(QLabel("<b>Where should your datasets go?</b>"))
        layout.addWidget(self.local)
        layout.addWidget(self.remote)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addLayout(bottom)
        self.setMinimumWidth(620)
        self.resize(620, self.sizeHint().height())
        layout.activate()
        for button in (self.local, self.remote):
            # Their text needs this height at the narrowest the dialog gets: no more, so a
            # message that appears below takes its room from the stretch, not from them.
            button.setFixedHeight(button.heightForWidth(button.width()))
        self._validate()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose your shared-drive folder")
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str) -> None:
        self.folder = folder
        self.folder_label.setText(folder)

    def start_local(self) -> Operation:
        owner, folder = self.owner.text().strip(), self.folder
        self._busy(True, "Starting the built-in store; this takes a few seconds…")
        operation = run_in_background(
            lambda token: start_with_local_store(self.workspace, owner, folder, token), self
        )
        operation.finished.connect(lambda _: self._done(self.workspace.settings()))
        operation.failed.connect(self._failed)
        operation.cancelled.connect(self._cancelled)
        self._operation = operation
        return operation

    def connect_server(self) -> None:
        dialog = SettingsDialog(self.workspace, self)
        dialog.owner.setText(self.owner.text().strip())
        if self.folder:
            dialog.roots.put_first(self.folder)
        dialog.add_profile()
        dialog.settings_saved.connect(self._done)
        dialog.open()

    def _validate(self) -> None:
        try:
            check_name("owner", self.owner.text().strip())
        except DatayardError as error:
            self.owner_error.error(str(error))
            valid = False
        else:
            self.owner_error.clear()
            valid = True
        for button in (self.local, self.remote):
            button.setEnabled(valid and self._operation is None)

    def _busy(self, busy: bool, message: str, *, error: bool = False) -> None:
        self.busy.setVisible(busy)
        for button in (self.local, self.remote):
            button.setEnabled(not busy)
        self.owner.setEnabled(not busy)
        (self.status.error if error else self.status.info)(message)
        # A wrapped message's lines are not in the layout's minimum: grow to fit them.
        self.resize(self.width(), max(self.height(), self.heightForWidth(self.width())))

    def _done(self, settings: Settings) -> None:
        self._operation = None
        self.settings_saved.emit(settings)
        self.accept()

    def _failed(self, error: Exception) -> None:
        self._operation = None
        self._busy(
            False,
            f"The built-in store did not start: {error}\n"
            "Try again, or connect to a MinIO server instead.",
            error=True,
        )

    def _cancel(self) -> None:
        if self._operation is not None:
            self.cancel.setEnabled(False)
            self.status.info("Stopping the built-in store…")
            self._operation.cancel()

    def _cancelled(self) -> None:
        self._operation = None
        self.cancel.setEnabled(True)
        self._busy(False, "Cancelled: the built-in store was stopped. Choose a store when ready.")


def workspace_owner(workspace: Workspace) -> str:
    """The owner the settings would use: the account name until the user picks another."""
    try:
        return workspace.settings().owner
    except DatayardError:
        return Settings().owner
