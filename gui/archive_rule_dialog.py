"""Adding or editing an archive rule from the app: the fields of ``datayard archive
add``, each refusal said under its field while it is written.

The values are checked by :class:`RuleEntry`, as the command checks them, so the dialog
refuses what the command refuses, in the same words; Add (Save) stays disabled until
nothing is refused, so a rule that is written is one a pass can run. Editing starts
from the rule's fields and writes the rule over itself; its name cannot change, since
the store's reports, the pass's lock and the installed timer are keyed by it.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from datayard.core.archive.entry import FIELDS, RuleEntry
from datayard.core.archive.rules import DEFAULT_TEMPLATE, MAX_DEPTH, Per, Rule, RuleBook
from datayard.core.archive.schedule import MANUAL
from datayard.core.errors import DatayardError
from datayard.core.settings import Settings

from .notice import Notice

SCHEDULES = (MANUAL, "hourly", "daily", "cron")
"""The schedule choices; ``cron`` takes the expression written beside it."""
_GLOB_SEPARATORS = re.compile(r"[,\n]")


def globs(text: str) -> tuple[str, ...]:
    """The globs of ``text``, one per line or separated by commas."""
    return tuple(part.strip() for part in _GLOB_SEPARATORS.split(text) if part.strip())


NAME_KEPT = (
    "The name stays: the store's reports, the pass's lock and an installed timer go by "
    "it. To rename, add a rule with the new name and remove this one."
)


class RuleDialog(QDialog):
    """Add a rule, or (given ``rule``) edit that rule."""

    saved = Signal(object)
    """The :class:`Rule` just written to the rules file."""

    def __init__(
        self,
        book: RuleBook,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        rule: Rule | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Edit rule {rule.name}" if rule else "Add an archive rule")
        self.book = book
        self.settings = settings
        self.editing = rule
        """The rule edited; ``None`` when adding one."""
        self._taken = {known.name for known in book.all()} - ({rule.name} if rule else set())

        self.name = QLineEdit(placeholderText="drive")
        self.root = QLineEdit(placeholderText="/mnt/share/cv")
        self.choose_root = QPushButton("Choose…")
        self.per = QComboBox()
        self.per.addItems([per.value for per in Per])
        self.depth_box = QSpinBox(minimum=1, maximum=MAX_DEPTH)
        self.depth_box.setToolTip("For per folder: 1 is the root's own folders")
        self.template = QLineEdit(DEFAULT_TEMPLATE)
        self.template.setToolTip(
            "[OWNER/]NAME of each dataset from {owner}, {set}, {folder}, {rule}"
        )
        self.include = QPlainTextEdit(placeholderText="every folder; or globs, like ada/*")
        self.exclude = QPlainTextEdit(placeholderText="tmp*, */old")
        for text in (self.include, self.exclude):
            text.setFixedHeight(3 * text.fontMetrics().lineSpacing() + 12)
        self.profile = QComboBox()
        self.profile.addItem(f"the settings' default ({settings.default_profile})", "")
        for profile in settings.profiles:
            self.profile.addItem(profile.name, profile.name)
        self.schedule = QComboBox()
        self.schedule.addItems(list(SCHEDULES))
        self.schedule.setCurrentText("daily")
        self.cron = QLineEdit(placeholderText="30 1 * * mon-fri")
        self.messages = {field: Notice() for field in FIELDS}
        """Each field's refusal, shown under it."""
        self.problem = Notice()
        """What writing the rule refused (another app added the name meanwhile)."""
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton(
            "Save" if rule else "Add", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.save_button.setDefault(True)

        self._lay_out()
        if rule is not None:
            self._fill(RuleEntry.of_rule(rule))
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.choose_root.clicked.connect(self._choose_root)
        for line in (self.name, self.root, self.template, self.cron):
            line.textChanged.connect(self._check)
        for box in (self.per, self.profile, self.schedule):
            box.currentIndexChanged.connect(self._check)
        self.depth_box.valueChanged.connect(self._check)
        self._check()

    def entry(self) -> RuleEntry:
        folder = self.per.currentText() == Per.FOLDER.value
        chosen = self.schedule.currentText()
        return RuleEntry(
            name=self.name.text().strip(),
            root=self.root.text().strip(),
            per=self.per.currentText(),
            depth=self.depth_box.value() if folder else 1,
            template=self.template.text().strip(),
            include=globs(self.include.toPlainText()),
            exclude=globs(self.exclude.toPlainText()),
            profile=str(self.profile.currentData() or ""),
            schedule=self.cron.text().strip() if chosen == "cron" else chosen,
        )

    def problems(self) -> dict[str, str]:
        return self.entry().problems(self.settings, self._taken)

    def save(self) -> None:
        """Write the rule to the rules file (over the edited one); a refusal is said in
        the dialog, which stays."""
        try:
            rule = self.entry().rule(self.settings)
            if self.editing is None:
                self.book.add(rule)
            else:
                self.book.replace(rule)
        except DatayardError as error:
            self.problem.error(str(error))
            return
        self.saved.emit(rule)
        self.accept()

    def _fill(self, entry: RuleEntry) -> None:
        """Start from ``entry``'s fields; its name is read-only."""
        self.name.setText(entry.name)
        self.name.setReadOnly(True)
        self.name.setToolTip(NAME_KEPT)
        self.root.setText(entry.root)
        self.per.setCurrentText(entry.per)
        self.depth_box.setValue(entry.depth)
        self.template.setText(entry.template)
        self.include.setPlainText("\n".join(entry.include))
        self.exclude.setPlainText("\n".join(entry.exclude))
        if entry.profile and self.profile.findData(entry.profile) < 0:
            self.profile.addItem(entry.profile, entry.profile)  # gone: said under it
        self.profile.setCurrentIndex(max(0, self.profile.findData(entry.profile)))
        chosen = entry.schedule.strip().lower()
        if chosen in SCHEDULES and chosen != "cron":
            self.schedule.setCurrentText(chosen)
        else:
            self.schedule.setCurrentText("cron")
            self.cron.setText(entry.schedule)

    def _check(self) -> None:
        self.depth_box.setEnabled(self.per.currentText() == Per.FOLDER.value)
        self.cron.setEnabled(self.schedule.currentText() == "cron")
        problems = self.problems()
        for field, message in self.messages.items():
            if field in problems:
                message.error(problems[field])
            else:
                message.clear()
        self.problem.clear()
        self.save_button.setEnabled(not problems)

    def _choose_root(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "The shared-drive folder to archive")
        if folder:
            self.root.setText(folder)

    def _lay_out(self) -> None:
        root = QHBoxLayout()
        root.addWidget(self.root, 1)
        root.addWidget(self.choose_root)
        schedule = QHBoxLayout()
        schedule.addWidget(self.schedule)
        schedule.addWidget(self.cron, 1)
        form = QFormLayout()
        rows: list[tuple[str, QWidget | QHBoxLayout, str]] = [
            ("Name:", self.name, "name"),
            ("Root:", root, "root"),
            ("One dataset per:", self.per, "per"),
            ("Depth:", self.depth_box, "depth"),
            ("Dataset template:", self.template, "template"),
            ("Include:", self.include, ""),
            ("Exclude:", self.exclude, ""),
            ("Profile:", self.profile, "profile"),
            ("Schedule:", schedule, "schedule"),
        ]
        for label, field, problem in rows:
            form.addRow(label, field)
            if problem:
                form.addRow("", self.messages[problem])
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addStretch()
        layout.addWidget(self.buttons)
        self.resize(600, 0)
