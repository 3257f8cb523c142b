"""Settings: who the user is, the shared-drive folders, the storage profiles, the hosts.

The dialog edits a copy; nothing is written until Save, which stores new secrets
in the keyring first and only then the settings file (see
:func:`datayard.core.store.profiles.save_settings`). The Hosts page is the
exception: its actions log in to hosts and act on them, so they take effect at
once (see :mod:`datayard.gui.hosts_page`).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from datayard.core.datasets.manifest import check_name
from datayard.core.errors import ConfigError, DatayardError, ProfileFieldError
from datayard.core.settings import DEFAULT_BUCKET, LOCAL_PROFILE, Profile, Settings
from datayard.core.store.profiles import profile_problem, save_settings
from datayard.core.store.workspace import Workspace

from .hosts_page import HostsPage
from .notice import Notice
from .profile_editor import LocalStoreView, ProfileEditor
from .rich_text import as_written, plain_label
from .workers import call_in_background

GENERAL_TAB, STORAGE_TAB, HOSTS_TAB = 0, 1, 2


@dataclass
class _Entry:
    """A profile being edited, with the secret typed for it (if any)."""

    profile: Profile
    secret: str = ""
    stored: bool = False
    """Saved before: its name is fixed and the keyring holds its secret."""


class RootsEditor(QWidget):
    """The shared-drive folders to browse, the user's own first."""

    changed = Signal()

    def __init__(self, roots: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.addItems(list(roots))
        add = QPushButton("Add…")
        add.clicked.connect(self.add)
        self.remove = QPushButton("Remove")
        self.remove.clicked.connect(self._remove)
        self.up = QPushButton("Move up")
        self.up.clicked.connect(lambda: self._move(-1))
        self.down = QPushButton("Move down")
        self.down.clicked.connect(lambda: self._move(+1))
        buttons = QVBoxLayout()
        for button in (add, self.remove, self.up, self.down):
            buttons.addWidget(button)
        buttons.addStretch()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.list)
        row.addLayout(buttons)
        self.list.currentRowChanged.connect(self._update)
        self._update()

    def put_first(self, folder: str) -> None:
        """Make ``folder`` the user's own folder (the first), adding it if need be."""
        for row in range(self.list.count()):
            if self.list.item(row).text() == folder:
                self.list.takeItem(row)
                break
        self.list.insertItem(0, folder)
        self._update()

    def roots(self) -> tuple[str, ...]:
        return tuple(self.list.item(row).text() for row in range(self.list.count()))

    def add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a shared-drive folder")
        if folder and folder not in self.roots():
            self.list.addItem(folder)
            self.list.setCurrentRow(self.list.count() - 1)
            self._update()

    def _remove(self) -> None:
        self.list.takeItem(self.list.currentRow())
        self._update()

    def _move(self, step: int) -> None:
        row = self.list.currentRow()
        item = self.list.takeItem(row)
        self.list.insertItem(row + step, item)
        self.list.setCurrentRow(row + step)
        self._update()

    def _update(self) -> None:
        row = self.list.currentRow()
        self.remove.setEnabled(row >= 0)
        self.up.setEnabled(row > 0)
        self.down.setEnabled(0 <= row < self.list.count() - 1)
        for index in range(self.list.count()):
            item = self.list.item(index)
            font = item.font()
            font.setBold(index == 0)
            item.setFont(font)
            item.setToolTip("Your own folder: browsing starts here" if index == 0 else "")
        self.changed.emit()


class SettingsDialog(QDialog):
    settings_saved = Signal(object)
    """The :class:`Settings` just written."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Datayard settings")
        self.workspace = workspace
        self.load_error = Notice()
        try:
            loaded = workspace.settings()
        except ConfigError as error:
            loaded = Settings()
            self.load_error.error(f"{error}\nSaving replaces the file with what is shown here.")
        self._local = next((p for p in loaded.profiles if p.name == LOCAL_PROFILE), None)
        self._entries = [_Entry(p, stored=True) for p in loaded.profiles if p.name != LOCAL_PROFILE]
        self._removed: set[str] = set()

        self.tabs = QTabWidget()
        self.tabs.addTab(self._general_tab(loaded), "General")
        self.tabs.addTab(self._storage_tab(loaded), "Storage")
        self.hosts = HostsPage(workspace)
        self.tabs.addTab(self.hosts, "Hosts")
        self.save_error = Notice()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.load_error)
        layout.addWidget(self.tabs)
        layout.addWidget(self.save_error)
        layout.addWidget(self.buttons)
        self.resize(860, 600)
        self.profiles.setCurrentRow(0)
        self._validate()

    def done(self, result: int) -> None:
        """Closing, saved or not, cancels what the Hosts page is doing on a host."""
        self.hosts.stop()
        super().done(result)

    # -- building -----------------------------------------------------------------

    def _general_tab(self, loaded: Settings) -> QWidget:
        self.owner = QLineEdit(loaded.owner)
        self.owner.textEdited.connect(self._validate)
        self.owner_error = Notice(reserved=True)
        self.roots = RootsEditor(loaded.roots)
        hint = QLabel(
            "Folders of the shared drive to browse. The first one is your own: "
            "Datayard opens it first."
        )
        hint.setWordWrap(True)
        owner_cell = QVBoxLayout()
        owner_cell.addWidget(self.owner)
        owner_cell.addWidget(self.owner_error)
        owner_help = plain_label("Your datasets are stored in the store as <owner>/<dataset name>.")
        owner_help.setWordWrap(True)
        owner_cell.addWidget(owner_help)
        form = QFormLayout()
        form.addRow("Owner name:", owner_cell)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addSpacing(12)
        layout.addWidget(QLabel("<b>Shared-drive folders</b>"))
        layout.addWidget(hint)
        layout.addWidget(self.roots)
        return page

    def _storage_tab(self, loaded: Settings) -> QWidget:
        self.profiles = QListWidget()
        local = QListWidgetItem(f"{LOCAL_PROFILE} (built-in store)")
        local.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon))
        self.profiles.addItem(local)
        for entry in self._entries:
            self.profiles.addItem(entry.profile.name)
        self.profiles.currentRowChanged.connect(self._show_entry)
        add = QPushButton("Add")
        add.setToolTip("Add a profile for a MinIO or other S3-compatible server")
        add.clicked.connect(self.add_profile)
        self.remove = QPushButton("Remove")
        self.remove.clicked.connect(self._remove_profile)
        self.default = QComboBox()
        self._default_name = loaded.default_profile
        self.default.currentIndexChanged.connect(self._default_chosen)

        list_buttons = QHBoxLayout()
        list_buttons.addWidget(add)
        list_buttons.addWidget(self.remove)
        left = QVBoxLayout()
        left.addWidget(self.profiles)
        left.addLayout(list_buttons)
        left.addWidget(QLabel("Default profile:"))
        left.addWidget(self.default)

        self.editor = ProfileEditor(self.workspace)
        self.editor.changed.connect(self._edited)
        self.local_view = LocalStoreView(self.workspace)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.local_view)
        self.stack.addWidget(self.editor)

        page = QWidget()
        row = QHBoxLayout(page)
        row.addLayout(left, 1)
        row.addWidget(self.stack, 3)
        self._fill_default_choice()
        return page

    # -- profiles -----------------------------------------------------------------

    def _current(self) -> _Entry | None:
        row = self.profiles.currentRow()
        return self._entries[row - 1] if row > 0 else None

    def _show_entry(self, row: int) -> None:
        entry = self._current()
        self.remove.setEnabled(entry is not None)
        if entry is None:
            self.stack.setCurrentWidget(self.local_view)
            self.local_view.load(self._local)
            return
        self.stack.setCurrentWidget(self.editor)
        self.editor.load(entry.profile, entry.secret, stored=entry.stored)
        self._validate()

    def add_profile(self) -> _Entry:
        """A new, empty profile, selected for editing; returned for the caller to fill."""
        taken = {e.profile.name for e in self._entries}
        name = next(
            n for n in (f"minio-{i}" if i else "minio" for i in range(999)) if n not in taken
        )
        entry = _Entry(Profile(name=name, endpoint="", bucket=DEFAULT_BUCKET, access_key=""))
        self._entries.append(entry)
        self.profiles.addItem(name)
        self.tabs.setCurrentIndex(STORAGE_TAB)
        self.profiles.setCurrentRow(self.profiles.count() - 1)
        self._fill_default_choice()
        self.editor.endpoint.setFocus()
        return entry

    def _remove_profile(self) -> None:
        entry = self._current()
        if entry is None:
            return
        if entry.stored:
            self._removed.add(entry.profile.name)
        row = self.profiles.currentRow()
        self._entries.remove(entry)
        self.profiles.takeItem(row)
        self.profiles.setCurrentRow(min(row, self.profiles.count() - 1))
        self._fill_default_choice()
        self._validate()

    def _edited(self) -> None:
        entry = self._current()
        if entry is None:
            return
        entry.profile = self.editor.profile()
        entry.secret = self.editor.secret.text()
        self.profiles.currentItem().setText(entry.profile.name or "(no name)")
        self._fill_default_choice()
        self._validate()

    def _fill_default_choice(self) -> None:
        names = [LOCAL_PROFILE, *(e.profile.name for e in self._entries if e.profile.name)]
        wanted = self._default_name if self._default_name in names else LOCAL_PROFILE
        self.default.blockSignals(True)
        self.default.clear()
        for name in names:
            label = f"{name} (built-in store)" if name == LOCAL_PROFILE else name
            self.default.addItem(label, name)
        self.default.setCurrentIndex(names.index(wanted))
        self.default.blockSignals(False)

    def _default_chosen(self) -> None:
        self._default_name = str(self.default.currentData())

    # -- validation and saving ------------------------------------------------------

    def _problems(self) -> dict[int, ProfileFieldError]:
        found = {}
        for index, entry in enumerate(self._entries):
            others = [e.profile.name for e in self._entries if e is not entry]
            problem = profile_problem(
                entry.profile, taken=others, secret=entry.secret, secret_stored=entry.stored
            )
            if problem is not None:
                found[index] = problem
        return found

    def _validate(self) -> None:
        try:
            check_name("owner", self.owner.text().strip())
            self.owner_error.clear()
            owner_ok = True
        except DatayardError as error:
            self.owner_error.error(str(error))
            owner_ok = False
        problems = self._problems()
        warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for index, entry in enumerate(self._entries):
            item: QListWidgetItem = self.profiles.item(index + 1)
            problem = problems.get(index)
            item.setIcon(
                warning
                if problem
                else self.style().standardIcon(QStyle.StandardPixmap.SP_DriveNetIcon)
            )
            item.setToolTip(as_written(str(problem) if problem else entry.profile.endpoint))
            if entry is self._current():
                self.editor.show_problem(problem)
        self.save_button.setEnabled(owner_ok and not problems)

    def settings(self) -> Settings:
        """The settings as the dialog shows them; valid once Save is enabled."""
        profiles = [e.profile.validated() for e in self._entries]
        return Settings(
            owner=self.owner.text().strip(),
            roots=self.roots.roots(),
            profiles=(*([self._local] if self._local else []), *profiles),
            default_profile=self._default_name
            if self._default_name in {LOCAL_PROFILE, *(p.name for p in profiles)}
            else LOCAL_PROFILE,
        )

    def save(self) -> None:
        settings = self.settings()
        secrets = {e.profile.name: e.secret for e in self._entries if e.secret}
        removed = set(self._removed)
        self.save_button.setEnabled(False)
        self.save_error.info("Saving…")
        operation = call_in_background(
            lambda: save_settings(self.workspace, settings, secrets, removed), self
        )
        operation.finished.connect(lambda _: self._saved(settings))
        operation.failed.connect(self._not_saved)

    def _saved(self, settings: Settings) -> None:
        self.save_error.clear()
        self.settings_saved.emit(settings)
        self.accept()

    def _not_saved(self, error: Exception) -> None:
        self.save_error.error(f"Nothing was saved: {error}")
        self._validate()
