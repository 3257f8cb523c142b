"""The transfers panel: the drop zone and the queue of pushes, each with its progress.

The queue itself (states, what may start, what survives a restart) is
:class:`datayard.core.datasets.push.queue.PushQueue`; this panel draws it, turns buttons into
queue actions and runs the jobs it says may start, in background operations.
Pausing cancels the running operation: a push is resumable by running it again.

With nothing in the list the panel folds to a one-line strip, so the window's room goes
to the images; a push opens it, and it stays open until the user hides it or clears the
list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from datayard.core.datasets.push import PushResult
from datayard.core.datasets.push.queue import Job, JobState, JobStore, PushQueue
from datayard.core.datasets.push.request import (
    DEFAULT_WORKERS,
    PushRequest,
    folders_to_push,
    run_request,
)
from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken
from datayard.core.store.workspace import Workspace

from ..rich_text import as_written, quoted
from ..workers import Operation, run_in_background
from . import text
from .drop_area import DropArea
from .job_row import JobRow
from .push_dialog import PushDialog

log = logging.getLogger(__name__)

_ACTIONS = {"pause", "resume", "retry", "cancel", "remove"}


class TransfersPanel(QWidget):
    active_changed = Signal(bool)
    """Whether any push is queued or running, after every change of that answer."""
    open_changed = Signal(bool)
    """Whether the panel shows the drop zone and the list (``False``: the strip alone)."""

    def __init__(
        self,
        workspace: Workspace,
        parent: QWidget | None = None,
        *,
        max_running: int = 2,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.workers = workers
        self.store = JobStore(workspace.dirs.database)
        self.queue = PushQueue(max_running=max_running, store=self.store)
        self.queue.subscribe(self._on_job_changed)
        self.rows: dict[str, JobRow] = {}
        self._operations: dict[str, Operation] = {}
        self._active = False
        self._open = True

        self.drop_area = DropArea()
        self.drop_area.setMaximumWidth(230)
        self.drop_area.dropped.connect(self.request_push)
        self.empty = QLabel(
            "No pushes yet. Drop folders on the left, or select folders in the tree and "
            "press Ctrl+P."
        )
        self.empty.setWordWrap(True)
        self.empty.setEnabled(False)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)
        self.hide_button = QPushButton("Hide")
        self.hide_button.setToolTip("Fold the panel to one line; a push opens it again")
        self.hide_button.clicked.connect(lambda: self.set_open(False))
        header = QHBoxLayout()
        heading = QLabel("<b>Pushes</b>")
        header.addWidget(heading)
        header.addStretch(1)
        header.addWidget(self.clear_button)
        header.addWidget(self.hide_button)
        self._list = QVBoxLayout()
        self._list.setSpacing(4)
        self._list.addWidget(self.empty)
        self._list.addStretch(1)
        holder = QWidget()
        holder.setLayout(self._list)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        jobs = QVBoxLayout()
        jobs.setContentsMargins(0, 0, 0, 0)
        jobs.addLayout(header)
        jobs.addWidget(scroll, 1)
        self.body = QWidget()
        body = QHBoxLayout(self.body)
        body.addWidget(self.drop_area)
        body.addLayout(jobs, 1)
        self.strip = QPushButton(text.IDLE)
        self.strip.setFlat(True)
        self.strip.setStyleSheet("text-align: left; padding: 2px 6px;")
        self.strip.setToolTip("Show the transfers")
        self.strip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.strip.clicked.connect(lambda: self.set_open(True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.strip)
        layout.addWidget(self.body, 1)
        self.set_open(False)

    # -- public: what the main window calls ------------------------------------------

    def request_push(self, paths: Sequence[Path]) -> PushDialog | None:
        """Ask how to push ``paths`` (a dialog, not blocking); queue the push if accepted."""
        folders = folders_to_push(list(paths))
        if not folders:
            self._warn("Nothing to push", "None of the dropped items is a folder or file here.")
            return None
        try:
            dialog = PushDialog(self.workspace, folders, self)
        except DatayardError as error:  # unreadable settings: say so, with the fix
            self._warn("Cannot push", str(error))
            return None
        dialog.accepted.connect(lambda: self._enqueue(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @property
    def is_open(self) -> bool:
        return self._open

    def set_open(self, open_: bool) -> None:
        """Show the drop zone and the list, or fold them away behind the strip."""
        if open_ == self._open:
            return
        self._open = open_
        self.body.setVisible(open_)
        self.strip.setVisible(not open_)
        self.open_changed.emit(open_)

    def has_active_jobs(self) -> bool:
        return self.queue.has_active()

    @property
    def busy(self) -> bool:
        """A push operation is still running: a paused one takes a moment to stop."""
        return bool(self._operations)

    def pause_all(self) -> None:
        """Pause every queued or running push (the app is closing): offered again at start."""
        for job in self.queue.pause_all():
            self._stop(job.id)

    def offer_interrupted(self) -> QMessageBox | None:
        """List the pushes an earlier session left unfinished and offer to resume them.

        The prompt is not blocking; it is returned so that a caller can wait on it.
        Without an answer the jobs stay in the list, each with its own Resume button.
        """
        jobs = [job for job in self.store.load() if job.id not in self.rows]
        if not jobs:
            return None
        self.queue.adopt(jobs)
        names = "".join(
            f"<li><b>{quoted(job.request.dataset)}</b> to {quoted(job.request.profile)} "
            f"({quoted(', '.join(p.name for p in job.request.paths))})</li>"
            for job in jobs
        )
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Resume unfinished pushes?",
            f"Datayard was closed while these pushes were unfinished:<ul>{names}</ul>"
            "Resuming sends only what the store does not have yet.",
            QMessageBox.StandardButton.NoButton,
            self,
        )
        resume = box.addButton("Resume all", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(resume)

        def answered() -> None:
            clicked = box.clickedButton()
            for job in jobs:
                if job.id not in self.rows:
                    continue
                if clicked is resume:
                    self._act(job.id, "resume")
                elif clicked is discard:
                    self._act(job.id, "cancel")
                    self._act(job.id, "remove")

        box.finished.connect(answered)
        box.finished.connect(box.deleteLater)
        box.open()
        return box

    def clear_finished(self) -> None:
        for job in self.queue.jobs:
            if job.state in (JobState.DONE, JobState.CANCELLED, JobState.FAILED):
                self._act(job.id, "remove")

    # -- running jobs ----------------------------------------------------------------

    def enqueue(self, request: PushRequest) -> Job:
        """Queue a push without the dialog (scripts, and the dialog's own accept)."""
        job = self.queue.add(request)
        self._schedule()
        return job

    def _enqueue(self, dialog: PushDialog) -> None:
        self.enqueue(dialog.request())

    def _schedule(self) -> None:
        for job in self.queue.startable(busy=list(self._operations)):
            self._run(job)

    def _run(self, job: Job) -> None:
        request = self.queue.start(job.id).request
        workspace, workers, job_id = self.workspace, self.workers, job.id

        def work(token: CancelToken) -> Iterator[object]:
            return run_request(workspace, request, workers=workers, cancel=token)

        operation = run_in_background(work, self)
        self._operations[job_id] = operation
        operation.yielded.connect(lambda event: self.queue.record(job_id, event))
        operation.finished.connect(lambda result: self._on_finished(job_id, result))
        operation.failed.connect(lambda error: self.queue.fail(job_id, error))
        operation.ended.connect(lambda: self._on_ended(job_id))

    def _on_finished(self, job_id: str, result: object) -> None:
        if isinstance(result, PushResult):
            self.queue.finish(job_id, result)

    def _on_ended(self, job_id: str) -> None:
        operation = self._operations.pop(job_id, None)
        if operation is not None:
            operation.deleteLater()
        self._schedule()

    def _stop(self, job_id: str) -> None:
        operation = self._operations.get(job_id)
        if operation is not None:
            operation.cancel()

    def _act(self, job_id: str, action: str) -> None:
        """A row's button: the queue decides whether it applies."""
        assert action in _ACTIONS, action
        try:
            if action == "pause":
                self.queue.pause(job_id)
                self._stop(job_id)
            elif action == "cancel":
                self.queue.cancel(job_id)
                self._stop(job_id)
            elif action in ("resume", "retry"):
                self.queue.resume(job_id)
                self._schedule()
            else:
                self.queue.remove(job_id)
                row = self.rows.pop(job_id)
                row.deleteLater()
                self._update_empty()
                if not self.rows:
                    self.set_open(False)  # nothing left to show
        except DatayardError as error:
            # The job changed state between the click and now; its row is redrawn.
            log.info("push job %s: %s", job_id, error)

    # -- drawing ---------------------------------------------------------------------

    def _on_job_changed(self, job: Job) -> None:
        row = self.rows.get(job.id)
        if row is None:
            row = JobRow(job)
            row.action.connect(self._act)
            self.rows[job.id] = row
            self._list.insertWidget(self._list.count() - 1, row)
        else:
            row.show_job(job)
        self._update_empty()
        active = self.queue.has_active()
        if active != self._active:
            self._active = active
            self.active_changed.emit(active)
        if job.state in (JobState.QUEUED, JobState.INTERRUPTED):
            self.set_open(True)  # a push queued, resumed or left over: the user follows it

    def _update_empty(self) -> None:
        self.empty.setVisible(not self.rows)
        self.clear_button.setEnabled(bool(self.rows))
        self.strip.setText(text.strip(self.queue.jobs))

    def _warn(self, title: str, message: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            title,
            as_written(message),
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.finished.connect(box.deleteLater)
        box.open()
