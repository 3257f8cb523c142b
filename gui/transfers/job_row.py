"""One push job in the transfers panel: its bar, its numbers, its buttons, its failed files."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from datayard.core.datasets.push.queue import Job, JobState

from ..rich_text import as_written, plain_label
from . import text

_BUTTONS: dict[str, tuple[str, frozenset[JobState]]] = {
    "pause": ("Pause", frozenset({JobState.QUEUED, JobState.RUNNING})),
    "resume": ("Resume", frozenset({JobState.PAUSED, JobState.CANCELLED, JobState.INTERRUPTED})),
    "retry": ("Retry failed", frozenset({JobState.FAILED})),
    "cancel": (
        "Cancel",
        frozenset({JobState.QUEUED, JobState.RUNNING, JobState.PAUSED, JobState.INTERRUPTED}),
    ),
    "remove": ("Clear", frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})),
}
"""Action name -> label and the states it applies to; the queue has the same names."""


class JobRow(QFrame):
    action = Signal(str, str)
    """(job id, action name) when a button is pressed."""

    def __init__(self, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job_id = job.id
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = plain_label()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setMinimumWidth(120)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMinimumWidth(140)
        self.state = QLabel()
        self.state.setFixedWidth(self.state.fontMetrics().horizontalAdvance("Interrupted") + 8)
        self.detail = plain_label()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons: dict[str, QPushButton] = {}
        top = QHBoxLayout()
        top.addWidget(self.title, 3)
        top.addWidget(self.bar, 4)
        top.addWidget(self.state)
        # At most two buttons apply at once; a fixed-width box keeps the bars of all
        # rows aligned whichever two they are.
        actions = QWidget()
        row_buttons = QHBoxLayout(actions)
        row_buttons.setContentsMargins(0, 0, 0, 0)
        row_buttons.addStretch(1)
        for name, (label, _states) in _BUTTONS.items():
            button = QPushButton(label)
            button.setAutoDefault(False)
            button.clicked.connect(lambda _=False, n=name: self.action.emit(self.job_id, n))
            row_buttons.addWidget(button)
            self.buttons[name] = button
        widest = max(button.sizeHint().width() for button in self.buttons.values())
        for button in self.buttons.values():
            button.setFixedWidth(widest)
        actions.setFixedWidth(2 * widest + row_buttons.spacing())
        top.addWidget(actions)
        self.failures_toggle = QPushButton()
        self.failures_toggle.setCheckable(True)
        self.failures_toggle.setFlat(True)
        self.failures_toggle.setStyleSheet(f"color: {text.ERROR_COLOUR}; text-align: left;")
        self.failures_toggle.toggled.connect(self._show_failures)
        self.failures = QTreeWidget()
        self.failures.setHeaderLabels(["File", "Why it failed"])
        self.failures.setRootIsDecorated(False)
        self.failures.setMaximumHeight(120)
        self.failures.setColumnWidth(0, 360)
        self.failures.hide()
        bottom = QHBoxLayout()
        bottom.addWidget(self.detail, 1)
        bottom.addWidget(self.failures_toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addLayout(bottom)
        layout.addWidget(self.failures)
        self.show_job(job)

    def show_job(self, job: Job) -> None:
        self.title.setText(text.title(job))
        self.title.setToolTip(as_written("\n".join(str(p) for p in job.request.paths)))
        reading = text.bar(job)
        if reading.permille is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(reading.permille)
        self.bar.setFormat(reading.text)
        self.state.setText(job.state.value.capitalize())
        self.detail.setText(text.detail(job))
        failed = job.state is JobState.FAILED
        self.detail.setStyleSheet(f"color: {text.ERROR_COLOUR};" if failed else "")
        for name, (_label, states) in _BUTTONS.items():
            self.buttons[name].setVisible(job.state in states)
        self.buttons["retry"].setText("Retry failed" if job.failures else "Retry")
        self.buttons["retry"].setToolTip(
            "Run the push again: only what the store lacks is sent, the failed files included"
        )
        self._fill_failures(job)

    def _fill_failures(self, job: Job) -> None:
        self.failures_toggle.setVisible(bool(job.failures))
        self.failures_toggle.setText(
            f"{'▾' if self.failures_toggle.isChecked() else '▸'} {len(job.failures)} failed file(s)"
        )
        if self.failures.topLevelItemCount() == len(job.failures):
            return
        self.failures.clear()
        for failure in job.failures:
            item = QTreeWidgetItem([failure.path, failure.error])
            item.setToolTip(1, as_written(failure.error))
            self.failures.addTopLevelItem(item)
        if not job.failures:
            self.failures_toggle.setChecked(False)

    def _show_failures(self, shown: bool) -> None:
        self.failures.setVisible(shown)
        count = self.failures.topLevelItemCount()
        self.failures_toggle.setText(f"{'▾' if shown else '▸'} {count} failed file(s)")
