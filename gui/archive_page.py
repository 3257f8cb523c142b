"""The Archive tab: each archive rule, whether its timer is installed, what its last
pass did, when it runs next, and Run now; Add rule…, Edit… and Remove.

Passes mostly run unattended (a timer, a CronJob, another machine), so what they did
is read from their reports in the store, in the background, whenever the store is
connected or the tab is opened. A pass that is running, or that ended without its
report (killed outright, its machine went down), is read with them from its lock, and
shown as the rule's last pass: "running", or "ended without a report" in the warning
colour with what its lock tells as tooltip and above its details. A failed pass that its
user has not seen yet, one that ended without a report included (see
:meth:`RuleStatus.unseen_failure`), is counted for the window's tab and said in a line
at the top: what the user saw of the rule (:attr:`RuleStatus.mark`) is remembered in
the window's ``state`` once the tab has been shown with it, so it is said once, at the
first start after it.

Whether a rule's timer is installed is read from its unit files when the table is
drawn (a few file reads); whether it is enabled is asked of ``systemctl --user`` in
the background, with the reports, since it may take a while to answer or time out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from datayard.core.archive.report import Outcome, PassReport, SetReport
from datayard.core.archive.rules import Rule, RuleBook
from datayard.core.archive.run import PassInStore, SetDone, run_pass
from datayard.core.archive.status import RuleStatus, next_run, read_statuses, unseen_failures
from datayard.core.archive.units import (
    TimerState,
    TimerStatus,
    systemctl_answer,
    timer_status,
    unit_name,
)
from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken, Finished, Progress
from datayard.core.store.bucket import Bucket
from datayard.core.store.locks import Liveness
from datayard.core.store.workspace import Workspace
from datayard.core.units import duration, size

from .archive_rule_dialog import RuleDialog
from .notice import ERROR_COLOR, OK_COLOR, WARN_COLOR, Notice
from .operation_bar import describe_error
from .rich_text import as_written, plain_label
from .workers import Operation, call_in_background, run_in_background

COLUMNS = (
    "Rule", "Per", "Schedule", "Next run", "Timer", "Last pass",
    "Outcome", "Pushed", "Skipped", "Failed", "Not trainable", "Root",
)  # fmt: skip
"""The root last: a long path would push the counts out of view."""
SET_COLUMNS = ("Dataset", "Folder", "Outcome", "Version", "Files", "Sent", "Problems")
SEEN_KEY = "archive/seen/"
"""``state`` key prefix: what the user has seen of each rule's passes, its
:attr:`RuleStatus.mark` (the key of its last report, and the passes that ended without
one)."""
WORKERS = 8
"""Files a Run now sends at once: the app stays responsive while it runs."""
PROGRESS_EVERY_S = 0.1
"""The UI hears of a pass's progress at most this often: a scan counts every file."""
_COLORS = {Outcome.PUSHED.value: OK_COLOR, Outcome.FAILED.value: ERROR_COLOR}


class ArchivePage(QWidget):
    loaded = Signal()
    """The rules' statuses were read from their stores and shown."""
    attention_changed = Signal(int)
    """How many rules have a failed pass that the user has not seen, a pass that ended
    without a report included."""
    pass_ended = Signal()
    """A Run now ended, whatever its end."""

    def __init__(self, workspace: Workspace, *, state: QSettings) -> None:
        super().__init__()
        self.workspace = workspace
        self._state = state
        self._rules: dict[str, Rule] = {}
        self._statuses: dict[str, RuleStatus] = {}
        self._answers: dict[str, tuple[str, str] | None] = {}
        """What ``systemctl --user`` said of each rule's timer at the last refresh."""
        self._told: set[str] = set()
        """The marks of the rules whose failure was said in the attention line."""
        self._loading: Operation | None = None
        self._pass: Operation | None = None

        self.attention = Notice()
        self.rules = QTreeWidget()
        self.rules.setHeaderLabels(list(COLUMNS))
        self.rules.setRootIsDecorated(False)
        self.rules.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.load_error = Notice()
        self.run_button = QPushButton("Run now")
        self.run_button.setToolTip("Run a pass of the selected rule now: push what changed")
        self.refresh_button = QPushButton("Refresh")
        self.add_button = QPushButton("Add rule…")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip(
            "Remove the selected rule (its versions and reports stay in the store)"
        )
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setToolTip("Change the selected rule (or double-click it)")
        self.dialog: RuleDialog | None = None
        """The Add rule or Edit dialog opened last."""
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.result = Notice()
        self.details_title = plain_label()
        self.details_title.setWordWrap(True)
        self.details = QTreeWidget()
        self.details.setHeaderLabels(list(SET_COLUMNS))
        self.details.setRootIsDecorated(False)
        self.details.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

        self._lay_out()
        self.run_button.clicked.connect(self.run_now)
        self.refresh_button.clicked.connect(self.refresh)
        self.add_button.clicked.connect(self.add_rule)
        self.edit_button.clicked.connect(self.edit_rule)
        self.rules.itemDoubleClicked.connect(lambda *_: self.edit_rule())
        self.remove_button.clicked.connect(self.remove_rule)
        self.cancel_button.clicked.connect(self.cancel)
        self.rules.currentItemChanged.connect(lambda *_: self._show_details())
        self._list(self._read_rules())

    # -- reading -----------------------------------------------------------------------

    def refresh(self) -> Operation:
        """Read the rules again and, in the background, their last passes."""
        rules = self._read_rules()
        self._list(rules)
        workspace = self.workspace

        def read() -> tuple[list[RuleStatus], dict[str, tuple[str, str] | None]]:
            answers = {r.name: systemctl_answer(r.name) for r in rules if _installed(r)}
            return read_statuses(workspace, rules), answers

        operation = call_in_background(read, self)
        operation.finished.connect(lambda found: self._loaded(operation, *found))
        operation.failed.connect(lambda error: self.load_error.error(describe_error(error)))
        self._loading = operation
        return operation

    def _read_rules(self) -> list[Rule]:
        try:
            rules = RuleBook(self.workspace.dirs.config).all()
        except DatayardError as error:
            self.load_error.error(str(error))
            return []
        self.load_error.clear()
        return rules

    def _loaded(
        self,
        operation: Operation,
        statuses: list[RuleStatus],
        answers: dict[str, tuple[str, str] | None],
    ) -> None:
        if operation is not self._loading:
            return  # a later refresh is under way
        self._loading = None
        self._statuses = {status.rule.name: status for status in statuses}
        self._answers = answers
        self._list([status.rule for status in statuses])
        unseen = unseen_failures(statuses, self._seen())
        # Told once, the line stays for the session: the tab may have been opened (and
        # the passes seen) before their reports were read.
        self._told.update(status.mark for status in unseen)
        told = [status for status in statuses if status.mark in self._told]
        if told:
            self.attention.error(
                "Unattended archive passes failed: "
                + "; ".join(f"rule {s.rule.name}, {s.failure}" for s in told)
                + ". Select the rule to see its report."
            )
        else:
            self.attention.clear()
        self.attention_changed.emit(len(unseen))
        if self.isVisible():
            self.mark_seen()
        self.loaded.emit()

    def _seen(self) -> dict[str, str]:
        return {name: str(self._state.value(SEEN_KEY + name, "")) for name in self._statuses}

    def mark_seen(self) -> None:
        """The user has the reports in view: what failed is not said at the next start."""
        for name, status in self._statuses.items():
            if status.mark:
                self._state.setValue(SEEN_KEY + name, status.mark)
        self.attention_changed.emit(0)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._statuses:
            self.mark_seen()

    # -- the table -----------------------------------------------------------------------

    def _list(self, rules: list[Rule]) -> None:
        current = self.current_name()
        self._rules = {rule.name: rule for rule in rules}
        self.rules.clear()
        now = datetime.now()
        for rule in rules:
            timer = self.timer(rule)
            row = QTreeWidgetItem(self._row(rule, self._statuses.get(rule.name), timer, now))
            row.setData(0, Qt.ItemDataRole.UserRole, rule.name)
            for column in range(len(COLUMNS)):
                row.setToolTip(column, as_written(row.text(column)))
            timer_column = COLUMNS.index("Timer")
            row.setToolTip(timer_column, as_written(_timer_tip(rule, timer)))
            if timer.stale or (not rule.manual and timer.state in _NOT_RUNNING):
                row.setForeground(timer_column, _brush(WARN_COLOR))
                row.setForeground(COLUMNS.index("Next run"), _brush(WARN_COLOR))
            status = self._statuses.get(rule.name)
            outcome = COLUMNS.index("Outcome")
            if status is not None and status.problem:
                row.setToolTip(outcome, as_written(status.problem))
                row.setForeground(outcome, _brush(ERROR_COLOR))
            elif status is not None and status.latest is not None:
                told = as_written(_unreported(status))
                row.setToolTip(outcome, told)
                row.setToolTip(COLUMNS.index("Last pass"), told)
                if status.latest.state is not Liveness.LIVE:
                    row.setForeground(outcome, _brush(WARN_COLOR))
            elif status is not None and status.failed:
                row.setForeground(outcome, _brush(ERROR_COLOR))
            self.rules.addTopLevelItem(row)
            if rule.name == current:
                self.rules.setCurrentItem(row)
        first = self.rules.topLevelItem(0)
        if self.rules.currentItem() is None and first is not None:
            self.rules.setCurrentItem(first)
        if not rules:
            self.details_title.setText(
                "No archive rules yet: add one with 'datayard archive add NAME --root PATH'."
            )
        self._show_details()
        self._update()

    def _row(
        self, rule: Rule, status: RuleStatus | None, timer: TimerStatus, now: datetime
    ) -> list[str]:
        cells = {
            "Rule": rule.name,
            "Per": rule.per.value,
            "Schedule": rule.schedule,
            "Next run": next_run(rule, now, timer),
            "Timer": timer.describe(),
            "Root": rule.root,
            "Outcome": status.verdict if status else "not read yet",
        }
        report = status.report if status else None
        latest = status.latest if status else None
        if latest is not None:  # newer than its report, whose counts are not its own
            cells["Last pass"] = _began(latest)
        elif report is None:
            cells["Last pass"] = "never" if status else ""
        else:
            counted = report.summary()
            cells.update(
                {
                    "Last pass": f"{_local(report.started)} on {report.host}",
                    "Pushed": str(counted["pushed"]),
                    "Skipped": str(counted["skipped"]),
                    "Failed": str(counted["failed"]),
                    "Not trainable": ", ".join(s.dataset for s in report.untrainable),
                }
            )
        return [cells.get(column, "") for column in COLUMNS]

    def timer(self, rule: Rule) -> TimerStatus:
        """The rule's timer: its files as they are now, and what ``systemctl --user``
        said of it at the last refresh (nothing before the first)."""
        return timer_status(rule, answer=self._answers.get(rule.name))

    def current_name(self) -> str:
        row = self.rules.currentItem()
        return str(row.data(0, Qt.ItemDataRole.UserRole)) if row is not None else ""

    def _show_details(self) -> None:
        self.details.clear()
        status = self._statuses.get(self.current_name())
        if status is None:
            if self.current_name():
                self.details_title.setText(
                    f"Rule {self.current_name()}: its last pass is not read yet"
                )
            self._update()
            return
        report = status.report
        unreported = _unreported(status) if not status.problem else ""
        if report is None:
            said = status.problem or unreported or "no pass yet"
            self.details_title.setText(f"Rule {status.rule.name}: {said}")
            self._update()
            return
        if unreported:
            self.details_title.setText(f"{unreported}\nThe pass before: {_described(report)}")
        else:
            self.details_title.setText(f"Last pass: {_described(report)}")
        for found in report.sets:
            self.details.addTopLevelItem(_set_row(found))
        self._update()

    # -- adding, editing and removing ---------------------------------------------------

    def _book(self) -> RuleBook:
        return RuleBook(self.workspace.dirs.config)

    def add_rule(self) -> RuleDialog | None:
        """The Add rule dialog, open; the table shows its rule once it is added."""
        return self._open_dialog(None)

    def edit_rule(self) -> RuleDialog | None:
        """The selected rule in the rule dialog, open; saved, it replaces the rule."""
        rule = self._rules.get(self.current_name())
        if rule is None or self._pass is not None:
            return None
        return self._open_dialog(rule)

    def _open_dialog(self, rule: Rule | None) -> RuleDialog | None:
        try:
            dialog = RuleDialog(self._book(), self.workspace.settings(), self, rule=rule)
        except DatayardError as error:  # the rules or settings file does not read
            self.result.error(str(error))
            return None
        dialog.saved.connect(lambda saved: self._rule_saved(saved, rule))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _rule_saved(self, rule: Rule, before: Rule | None) -> None:
        """Said, listed and selected; an installed timer that the new schedule leaves out
        of date is said, not rewritten: ``archive install`` writes it, and the user
        reloads their manager (the page does not drive ``systemctl``)."""
        stale = self.timer(rule).stale
        if before is None:
            self.result.success(f"Added archive rule {rule.name}.")
        elif stale:
            self.result.warning(f"Saved archive rule {rule.name}. Its timer: {stale}.")
        else:
            self.result.success(f"Saved archive rule {rule.name}.")
        self.refresh()
        self._select(rule.name)

    def remove_rule(self) -> None:
        """Remove the selected rule once the user confirms: its timer, if installed, is
        theirs to disable, which is said."""
        name = self.current_name()
        if not name:
            return
        answer = QMessageBox.question(
            self,
            "Remove archive rule",
            f"Remove archive rule {name}? Its versions and reports stay in the store.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self._book().remove(name)
        except DatayardError as error:
            self.result.error(str(error))
            return
        self.result.success(
            f"Removed archive rule {name}. If its units are installed: "
            f"systemctl --user disable --now {unit_name(name)}.timer"
        )
        self.refresh()

    def _select(self, name: str) -> None:
        for index in range(self.rules.topLevelItemCount()):
            row = self.rules.topLevelItem(index)
            if row is not None and row.data(0, Qt.ItemDataRole.UserRole) == name:
                self.rules.setCurrentItem(row)

    # -- Run now -------------------------------------------------------------------------

    def run_now(self) -> Operation | None:
        """A pass of the selected rule, in the background, its report shown at the end."""
        rule = self._rules.get(self.current_name())
        if rule is None or self._pass is not None:
            return None
        operation = run_in_background(self._passing(rule), self)
        self._pass = operation
        self.result.info(f"Running a pass of rule {rule.name}…")
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Rule {rule.name}: starting")
        operation.yielded.connect(self._on_event)
        operation.finished.connect(self._passed)
        operation.failed.connect(lambda error: self.result.error(describe_error(error)))
        operation.cancelled.connect(
            lambda: self.result.warning(
                f"Stopped the pass of rule {rule.name}: the next pass archives the rest."
            )
        )
        operation.ended.connect(lambda: self._pass_ended(operation))
        self._update()
        return operation

    def cancel(self) -> None:
        if self._pass is not None:
            self._pass.cancel()

    def _passing(self, rule: Rule) -> Callable[[CancelToken], Iterator[object]]:
        workspace = self.workspace

        def run(token: CancelToken) -> Iterator[object]:
            connection = workspace.connect(rule.profile or None)
            events = run_pass(
                rule,
                bucket=Bucket(connection.profile, connection.secret, connections=2 * WORKERS),
                database=workspace.dirs.database,
                owner=workspace.settings().owner,
                workers=WORKERS,
                cancel=token,
            )
            shown = 0.0
            for event in events:
                if isinstance(event, Progress):
                    if time.monotonic() - shown < PROGRESS_EVERY_S:
                        continue
                    shown = time.monotonic()
                if isinstance(event, Progress | SetDone | Finished):
                    yield event

        return run

    def _on_event(self, event: object) -> None:
        if isinstance(event, Progress):
            counted = f"{event.done:,}" + (f" of {event.total:,}" if event.total else "")
            self.progress.setFormat(f"{event.phase.capitalize()}: {counted}")
            self.progress.setRange(0, event.total or 0)
            self.progress.setValue(event.done)
        elif isinstance(event, SetDone):
            self.progress.setFormat(f"{event.report.outcome} {event.report.dataset}")

    def _passed(self, report: PassReport) -> None:
        text = _described(report)
        if report.failed:
            self.result.warning(text)
        else:
            self.result.success(text)

    def _pass_ended(self, operation: Operation) -> None:
        if operation is self._pass:
            self._pass = None
            self._update()
            self.pass_ended.emit()
            self.refresh()  # its report, a stopped pass's too, as every machine reads it

    def stop(self) -> None:
        """Stop the pass that runs; the window closes."""
        self.cancel()

    # -- showing -------------------------------------------------------------------------

    def _update(self) -> None:
        busy = self._pass is not None
        self.run_button.setEnabled(not busy and self.current_name() in self._rules)
        self.remove_button.setEnabled(not busy and self.current_name() in self._rules)
        self.edit_button.setEnabled(not busy and self.current_name() in self._rules)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _lay_out(self) -> None:
        intro = plain_label(
            "Archive rules version shared-drive folders unattended (Add rule…, or datayard "
            "archive add; datayard archive install). Their passes' reports are read from the store."
        )
        intro.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch()
        top = QWidget()
        upper = QVBoxLayout(top)
        upper.setContentsMargins(0, 0, 0, 0)
        upper.addWidget(self.rules, 1)
        upper.addLayout(buttons)
        upper.addWidget(self.result)
        bottom = QWidget()
        lower = QVBoxLayout(bottom)
        lower.setContentsMargins(0, 0, 0, 0)
        lower.addWidget(self.details_title)
        lower.addWidget(self.details, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.attention)
        layout.addWidget(self.load_error)
        layout.addWidget(split, 1)


def _described(report: PassReport) -> str:
    counted = report.summary()
    stopped = f" {report.interrupted}." if report.interrupted else ""
    if report.continued:
        stopped += f" {report.continued[0].upper()}{report.continued[1:]}"
    return (
        f"Pass of rule {report.rule} on {report.host} at {_local(report.started)}, "
        f"{duration(report.duration_s)}: {counted['seen']} datasets, {counted['pushed']} "
        f"pushed, {counted['skipped']} unchanged, {counted['failed']} failed, "
        f"{counted['not_trainable']} not trainable, {size(counted['sent_bytes'])} sent." + stopped
    )


def _unreported(status: RuleStatus) -> str:
    """What the locks of its passes without a report tell, one sentence each."""
    return " ".join(found.sentence() for found in status.unreported)


def _began(found: PassInStore) -> str:
    """When and where a pass without a report began, for the Last pass column."""
    if found.holder is None:
        return f"{found.refreshed.astimezone():%Y-%m-%d %H:%M} (its lock unreadable)"
    try:
        return f"{_local(found.holder.started)} on {found.holder.host}"
    except ValueError:  # not an ISO time: said as its lock says it
        return f"{found.holder.started} on {found.holder.host}"


def _set_row(found: SetReport) -> QTreeWidgetItem:
    problems = found.reason or (f"not trainable: {found.problems}" if not found.trainable else "")
    row = QTreeWidgetItem(
        [
            found.dataset,
            found.folder or "(the root)",
            found.outcome,
            found.version,
            str(found.files),
            size(found.sent_bytes),
            problems,
        ]
    )
    color = WARN_COLOR if not found.trainable else _COLORS.get(found.outcome, "")
    if color:
        row.setForeground(SET_COLUMNS.index("Outcome"), _brush(color))
    if problems:
        row.setToolTip(SET_COLUMNS.index("Problems"), as_written(problems))
    return row


def _local(started: str) -> str:
    """A report's start (ISO, UTC) in this computer's time."""
    return f"{datetime.fromisoformat(started).astimezone():%Y-%m-%d %H:%M}"


_NOT_RUNNING = (TimerState.NOT_INSTALLED, TimerState.DISABLED)
"""The timer states in which a scheduled rule does not run by itself."""


def _installed(rule: Rule) -> bool:
    return timer_status(rule).installed


def _timer_tip(rule: Rule, timer: TimerStatus) -> str:
    """What the Timer cell means, and what to do about it."""
    if rule.manual and not timer.installed:
        return "No schedule: the rule runs by Run now or 'datayard archive run' only."
    if timer.state is TimerState.UNKNOWN:
        return (
            "Not read on this system: whether Task Scheduler or launchd runs the rule "
            f"('datayard archive install {rule.name} --print-windows' or --print-launchd)."
        )
    if timer.state is TimerState.NOT_INSTALLED:
        return (
            f"{timer.describe()}: the rule does not run by itself. Install its systemd "
            f"user timer with 'datayard archive install {rule.name}'."
        )
    if timer.state is TimerState.DISABLED:
        return (
            f"{timer.describe()}: the rule does not run by itself. Turn it on with "
            f"'systemctl --user enable --now {unit_name(rule.name)}.timer'."
        )
    return timer.describe()


def _brush(color: str) -> QBrush:
    return QBrush(QColor(color))
