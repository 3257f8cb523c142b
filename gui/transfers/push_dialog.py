"""The dialog between a drop and a push: name the dataset, pick the store, see what will go."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from datayard.core.datasets.manifest import MAX_MESSAGE, check_name
from datayard.core.datasets.push import SplitMode
from datayard.core.datasets.push.preview import PushPreview
from datayard.core.datasets.push.queue import failure_message
from datayard.core.datasets.push.request import PushRequest, preview_request, suggest_dataset_name
from datayard.core.drive.check import FindingGroup, Severity
from datayard.core.errors import ConfigError, DatayardError, StorageError
from datayard.core.events import CancelToken, Progress
from datayard.core.settings import LOCAL_PROFILE
from datayard.core.store.workspace import Workspace
from datayard.core.units import size

from ..rich_text import plain_label, quoted
from ..workers import Operation, run_in_background
from .text import ERROR_COLOUR

_SPLITS = {
    SplitMode.AUTO: "The folders' train/val/test, else a stable 80/20 split",
    SplitMode.FOLDER: "The folders' train/val/test, else everything is train",
    SplitMode.RATIO: "A stable 80/20 train/val split, whatever the folders say",
}
_MARKS = {Severity.ERROR: "✖", Severity.WARNING: "⚠", Severity.INFO: "ℹ"}
_RENAME_DELAY_MS = 600
"""Typing pauses this long before the preview is redone for the new name."""
_MAX_PATHS = 200
"""Paths listed under a problem; the inspector shows them all."""


class PushDialog(QDialog):
    """Accepting it yields :meth:`request`; the preview runs in the background meanwhile."""

    preview_changed = Signal()
    """The preview area changed: progress, result or failure."""

    def __init__(
        self, workspace: Workspace, folders: Sequence[Path], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.folders = tuple(folders)
        self.preview: PushPreview | None = None
        self._operation: Operation | None = None
        self._suggested = suggest_dataset_name(self.folders)
        self.setWindowTitle("Push to the store")
        self.resize(640, 470)
        settings = workspace.settings()

        listing = QLabel("<br>".join(quoted(f) for f in self.folders))
        listing.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        listing.setWordWrap(True)
        self.name = QLineEdit(self._suggested)
        self.name.setToolTip("Stored as OWNER/NAME; letters, digits, '.', '_' or '-'.")
        self.name_problem = plain_label()
        self.name_problem.setWordWrap(True)
        self.name_problem.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.name_problem.hide()
        self.profile = QComboBox()
        names = [p.name for p in settings.profiles]
        if LOCAL_PROFILE not in names:
            names.append(LOCAL_PROFILE)
        for name in names:
            label = f"{name} (store on this computer)" if name == LOCAL_PROFILE else name
            self.profile.addItem(label, name)
        if settings.default_profile in names:
            self.profile.setCurrentIndex(names.index(settings.default_profile))
        self.split = QComboBox()
        for mode, text in _SPLITS.items():
            self.split.addItem(text, mode)
        self.message = QLineEdit()
        self.message.setMaxLength(MAX_MESSAGE)
        self.message.setPlaceholderText("What this version changes (optional)")
        self.message.setToolTip("Shown with the version in the Datasets tab, `datasets` and `show`")

        form = QFormLayout()
        form.addRow("Folders:", listing)
        form.addRow("Dataset:", self.name)
        form.addRow("", self.name_problem)
        form.addRow("Owner:", plain_label(settings.owner))
        form.addRow("Store profile:", self.profile)
        form.addRow("Splits:", self.split)
        form.addRow("Message:", self.message)

        self.status = plain_label()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.problems = QTreeWidget()
        self.problems.setHeaderLabels(["Problem", "Files"])
        self.problems.setRootIsDecorated(True)
        self.problems.currentItemChanged.connect(self._show_hint)
        self.hint = plain_label()
        self.hint.setWordWrap(True)
        self.hint.hide()
        self.problems.setColumnWidth(0, 440)
        self.problems.hide()
        self.force = QCheckBox("Push anyway: training may crash or lose these files")
        self.force.hide()
        box = QGroupBox("Check, and what will be sent")
        inner = QVBoxLayout(box)
        inner.addWidget(self.status)
        inner.addWidget(self.progress)
        inner.addWidget(self.summary)
        inner.addWidget(self.problems, 100)
        inner.addWidget(self.hint)
        inner.addWidget(self.force)
        inner.addStretch(1)  # short results stay at the top when there is no problem list

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.push_button: QPushButton = self.buttons.addButton(
            "Push", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.push_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(box, 1)
        layout.addWidget(self.buttons)

        # Whether the store already holds this content under this name depends on the
        # name: ask again once the user stops typing.
        self._rename = QTimer(self, singleShot=True, interval=_RENAME_DELAY_MS)
        self._rename.timeout.connect(self._start_preview)
        self.name.textChanged.connect(self._on_name)
        self.force.toggled.connect(self._update_button)
        self.profile.currentIndexChanged.connect(self._start_preview)
        self._start_preview()

    def request(self) -> PushRequest:
        return PushRequest(
            paths=self.folders,
            dataset=self.name.text().strip(),
            profile=str(self.profile.currentData()),
            split=SplitMode(self.split.currentData()),
            force=self.force.isChecked(),
            message=self.message.text().strip(),
        )

    def done(self, result: int) -> None:
        self._rename.stop()
        if self._operation is not None:
            self._operation.cancel()  # the preview is of no use once the dialog closes
        super().done(result)

    # -- the preview, in the background --------------------------------------------

    def _start_preview(self) -> None:
        if self._operation is not None:
            self._operation.cancel()
        self.preview = None
        draft = self.request()
        if self._name_error():
            draft = PushRequest(draft.paths, self._suggested, draft.profile, draft.split)
        self._rename.stop()
        workspace = self.workspace

        def run(token: CancelToken) -> Iterator[object]:
            return preview_request(workspace, draft, cancel=token)

        operation = run_in_background(run, self)
        self._operation = operation
        operation.yielded.connect(lambda e: self._on_progress(operation, e))
        operation.finished.connect(lambda p: self._on_preview(operation, p))
        operation.failed.connect(lambda e: self._on_failed(operation, e))
        self.status.setText(f"Scanning and checking, then asking {draft.profile!r} what it has…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.summary.clear()
        self.problems.clear()
        self.problems.hide()
        self.hint.hide()
        self.force.hide()
        self._update_button()
        self.preview_changed.emit()

    def _on_progress(self, operation: Operation, event: object) -> None:
        if operation is not self._operation or not isinstance(event, Progress):
            return
        total = event.total or 0
        self.progress.setRange(0, total)
        self.progress.setValue(min(event.done, total))
        of_total = f" of {event.total}" if event.total is not None else ""
        self.status.setText(f"{event.phase.capitalize()}: {event.done}{of_total} files…")
        self.preview_changed.emit()

    def _on_preview(self, operation: Operation, preview: object) -> None:
        if operation is not self._operation or not isinstance(preview, PushPreview):
            return
        self.preview = preview
        self.progress.hide()
        self.status.setText(self._check_line(preview))
        self.summary.setText(self._send_line(preview))
        self._show_problems([g for report in preview.reports for g in report.groups])
        self.force.setVisible(not preview.trainable and not preview.refusal)
        self._update_button()
        self.preview_changed.emit()

    def _on_failed(self, operation: Operation, error: Exception) -> None:
        if operation is not self._operation:
            return
        self.progress.hide()
        advice = " Choose another profile, or fix this one in Settings."
        self.status.setText(
            f"Could not prepare the push: {failure_message(error)}"
            + (advice if isinstance(error, StorageError | ConfigError) else "")
        )
        self.preview_changed.emit()

    # -- what the user reads -------------------------------------------------------

    def _check_line(self, preview: PushPreview) -> str:
        images = sum(s.images for r in preview.reports for s in r.sets)
        labelled = sum(s.labelled_images for r in preview.reports for s in r.sets)
        sets = sum(len(r.sets) for r in preview.reports)
        line = f"{images} images ({labelled} labelled) in {sets} set(s). "
        if preview.blocking:
            return line + f"The check found {preview.blocking} blocking problem(s)."
        if preview.warnings:
            return line + f"The check found {preview.warnings} warning(s); none blocks training."
        return line + "The check found no problem."

    def _send_line(self, preview: PushPreview) -> str:
        if preview.refusal:
            refusal = quoted(preview.refusal[:1].upper() + preview.refusal[1:])
            return f"<b>Cannot push these folders as one dataset</b>: {refusal}."
        total = f"{preview.files} files ({size(preview.bytes)})"
        if preview.unchanged and preview.new_blobs:
            return (
                f"<b>To restore: {preview.new_blobs} of {preview.files} files</b>: "
                f"{quoted(preview.dataset)} holds exactly these {total}, but the store lost "
                "some of them; pushing sends them again."
            )
        if preview.unchanged:
            return (
                f"<b>Nothing to send</b>: {quoted(preview.dataset)} already holds exactly "
                f"these {total}; pushing would publish no new version."
            )
        if preview.new_blobs == 0:
            return f"<b>Nothing to upload</b>: the store already has all {total}."
        notes = []
        if stored := preview.blobs - preview.new_blobs:
            notes.append(f"{stored} already in the store")
        if repeats := preview.files - preview.blobs:
            copies = "1 file is a copy" if repeats == 1 else f"{repeats} files are copies"
            notes.append(f"{copies} of others: stored once")
        sending = f"{preview.new_blobs} of {preview.files} files"
        return f"<b>To send: {sending} ({size(preview.new_bytes)} of {size(preview.bytes)})</b>" + (
            f"; {', '.join(notes)}." if notes else "."
        )

    def _show_problems(self, groups: Sequence[FindingGroup]) -> None:
        self.problems.clear()
        for group in sorted(groups, key=lambda g: g.severity.rank):
            paths = group.paths
            item = QTreeWidgetItem(
                [f"{_MARKS[group.severity]} {group.kind.heading}", str(len(paths))]
            )
            item.setToolTip(0, group.kind.hint)
            for path in paths[:_MAX_PATHS]:
                item.addChild(QTreeWidgetItem([path, ""]))
            self.problems.addTopLevelItem(item)
        self.problems.setVisible(bool(groups))
        first = self.problems.topLevelItem(0)
        if first is not None:
            self.problems.setCurrentItem(first)
        self.hint.setVisible(bool(groups))

    def _show_hint(self, item: QTreeWidgetItem | None) -> None:
        """What to do about the selected problem: the hint of its group."""
        while item is not None and item.parent() is not None:
            item = item.parent()
        self.hint.setText(f"What to do: {item.toolTip(0)}" if item is not None else "")

    # -- validity ----------------------------------------------------------------------

    def _name_error(self) -> str:
        try:
            check_name("dataset name", self.name.text().strip())
        except DatayardError as error:
            return str(error)
        return ""

    def _on_name(self) -> None:
        problem = self._name_error()
        self.name_problem.setText(problem[:1].upper() + problem[1:])
        self.name_problem.setVisible(bool(problem))
        self._update_button()
        if not problem:
            self._rename.start()

    def _update_button(self) -> None:
        preview = self.preview
        blocked = preview is not None and not preview.trainable
        refused = preview is not None and bool(preview.refusal)
        # A push of what the dataset holds already would only queue a "nothing new" job.
        idle = preview is not None and preview.unchanged and not preview.new_blobs
        self.push_button.setEnabled(
            not self._name_error()
            and not refused
            and not idle
            and (not blocked or self.force.isChecked())
        )
