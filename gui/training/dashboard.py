"""The training runs dashboard: the runs list, live plots, and stop/pause/resume.

Selected runs are plotted on top of each other, one colour each. A run still
going is followed in a background operation (``Backends.follow``) whose
thread only drops events into the run's inbox; a ~10 Hz timer on the UI thread
folds what arrived into the run's :class:`RunCurves` and redraws only the runs
that changed, so a fast worker never causes a redraw per event. A run that has
ended is read from its events file in the background. Deselecting a run or
closing the dashboard cancels its operation.

A run on a host is followed whether it is selected or not: following it is
what brings its copy here up to date (its status in the list), and what keeps
its tunnel to the store open. Once the list is read (at start-up too), every
remote run still going is re-attached. With "Other machines' runs", the list
also has copies of the store's runs that this machine did not launch, followed
the same way, through the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken, Finished, check_cancel
from datayard.core.training.backends import Backends
from datayard.core.training.curves import MAX_SMOOTHING, RunCurves, XAxis, export_csv, read_curves
from datayard.core.training.promote import PROMOTABLE, promote_run
from datayard.core.training.protocol import TrainingEvent
from datayard.core.training.runs import RunFolder, RunRecord, RunStatus, SummaryFold
from datayard.core.units import duration

from ..notice import Notice
from ..rich_text import as_written
from ..workers import Operation, call_in_background, run_in_background
from .plots import PALETTE, CurvePlots
from .results import RunResults
from .runs_list import RunInfo, RunsList, read_runs, read_store_runs, swatch
from .try_it import TryIt

REDRAW_MS = 100
"""Ten redraws a second at most: smooth to the eye, cheap for long curves."""
_DRAIN = 20_000
"""Events folded per run per redraw: catching up on a long live run never stalls the UI."""
_STATS_COLUMNS = ("Run", "Series", "Min", "Max", "Last")
_AXES = {"Batch step": XAxis.STEP, "Epoch": XAxis.EPOCH, "Wall time": XAxis.WALL}
_LIVE = (RunStatus.PREPARING, RunStatus.RUNNING)


class _Shown:
    """A plotted run: its colour, its curves, and the background work that feeds them."""

    def __init__(self, info: RunInfo, colour: QColor) -> None:
        self.info = info
        self.colour = colour
        self.curves = RunCurves(info.run_id)
        self.fold = _fold(info)
        self.inbox: deque[TrainingEvent] = deque()
        self.operation: Operation | None = None
        self.following = False
        self.drawn = -1
        """The curves' version on screen; differs from ``curves.version`` when a redraw is due."""

    def drain(self) -> bool:
        """Fold the events that came in; whether the run's row should say something new."""
        before = self.fold.summary()
        for _ in range(min(len(self.inbox), _DRAIN)):
            event = self.inbox.popleft()
            self.curves.add(event)
            self.fold.add(event)
        now = self.fold.summary()
        # Until it runs, the listing says more (why a cluster's pod waits); its end is told
        # by the refresh that follows it, with what the worker left.
        return self.following and now.status is RunStatus.RUNNING and now != before


_AXIS_KEY = "training/axis"
_SELECTED_KEY = "training/selected"


def _remembered_runs(state: QSettings | None) -> list[str]:
    value = state.value(_SELECTED_KEY) if state is not None else None
    if isinstance(value, str):  # one run: QSettings gives a list of one back as a string
        return [value]
    return [str(run_id) for run_id in value] if isinstance(value, list) else []


def _fold(info: RunInfo) -> SummaryFold:
    return SummaryFold(info.record.spec.epochs if info.record else 0)


def _follow(
    backend: Backends, folder: RunFolder, inbox: deque[TrainingEvent]
) -> Callable[[CancelToken], Iterator[object]]:
    """Events go to ``inbox`` (thread-safe appends), not one Qt signal each.

    ``follow`` ends once the worker has exited after its last event, so the
    refresh this ending triggers sees the run as resumable.
    """

    def run(token: CancelToken) -> Iterator[object]:
        for record in backend.follow(folder, token):
            check_cancel(token)
            inbox.append(record.event)
        yield Finished(None)

    return run


class RunDashboard(QWidget):
    """Runs of a :class:`Backends`, their curves overlaid, live while they train."""

    runs_loaded = Signal(list)
    """The :class:`RunInfo` list after each :meth:`refresh`."""
    redrawn = Signal()
    """After the plots, table and progress were given new data."""
    exported = Signal(object)
    """The :class:`Path` of each finished export."""

    def __init__(
        self, backend: Backends, parent: QWidget | None = None, *, state: QSettings | None = None
    ) -> None:
        """``state`` keeps the X axis and the selected runs from one start to the next."""
        super().__init__(parent)
        self.backend = backend
        self._state = state
        self._to_select: list[str] = _remembered_runs(state)
        """The runs selected when the app last closed, selected once the list is read."""
        self._shown: dict[str, _Shown] = {}
        self._background: dict[str, _Shown] = {}
        """Remote runs followed while not selected: kept up to date, not drawn."""
        self._resumed: set[str] = set()
        """Remote runs just resumed, which their copy here shows ended until followed."""
        self._listing: Operation | None = None
        self._axis = XAxis.STEP
        self._smoothing = 0.6

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the runs again")
        self.everywhere = QCheckBox("Other machines' runs")
        self.everywhere.setToolTip(
            "Also list the runs in the store (the default profile's) that other machines "
            "and clusters launched: followed, stopped and paused through the store"
        )
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(
            "Finish the selected runs now: the weights so far are validated and saved"
        )
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip(
            "Pause the selected runs; Resume continues them from their last full epoch"
        )
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip(
            "Continue the selected paused runs, and the failed ones that had finished an "
            "epoch, from their last checkpoint in a new worker"
        )
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip(
            "Give the selected run of this machine a name of your own; other machines see it "
            "through the store"
        )
        self.promote_button = QPushButton("Promote…")
        self.promote_button.setToolTip(
            "Make the selected finished run's best weights a model in the store, with its "
            "lineage: the train dialog then offers it to fine-tune"
        )
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, round(MAX_SMOOTHING * 100))
        self.smoothing.setValue(round(self._smoothing * 100))
        self.smoothing.setFixedWidth(120)
        self.smoothing.setToolTip(
            "Smooths the per-batch losses with a moving average (0 = raw values); "
            "the raw values stay visible, faint"
        )
        self.smoothing_value = QLabel(f"{self._smoothing:.2f}")
        self.axis = QComboBox()
        self.axis.addItems(list(_AXES))
        self.axis.setToolTip("What the horizontal axis of every plot counts")
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.setToolTip("Every point of the selected runs, one row each")
        self.png_button = QPushButton("Export PNG…")
        self.png_button.setToolTip("A picture of the plots as they are shown")
        self.notice = Notice()

        self.runs = RunsList()
        self.stats = QTableWidget(0, len(_STATS_COLUMNS))
        self.stats.setHorizontalHeaderLabels(list(_STATS_COLUMNS))
        self.stats.verticalHeader().hide()
        self.stats.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.stats.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stats.horizontalHeader().setStretchLastSection(True)
        self._stats_keys: list[tuple[str, str]] = []
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.plots = CurvePlots()
        self.results = RunResults()
        self.try_it = TryIt(backend.workspace.dirs)
        self.views = QTabWidget()
        self._results_reading: Operation | None = None

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._layout()
        self._connect()
        axis = state.value(_AXIS_KEY) if state is not None else None
        if axis in _AXES:
            self.axis.setCurrentText(str(axis))
        self._update_buttons()

    # -- public --------------------------------------------------------------------

    def refresh(self) -> Operation:
        """Read the runs list again in the background; rows update in place."""
        if self._listing is not None:
            self._listing.cancel()
        everywhere = self.everywhere.isChecked()

        def listing() -> tuple[list[RunInfo], str]:
            infos = read_runs(self.backend)
            if not everywhere:
                return infos, ""
            try:
                return infos + read_store_runs(self.backend), ""
            except DatayardError as error:
                return infos, f"The store's runs cannot be listed: {error}"

        operation = call_in_background(listing, self)
        operation.finished.connect(lambda found: self._runs_read(operation, *found))
        operation.failed.connect(lambda error: self.notice.error(f"Cannot list the runs: {error}"))
        self._listing = operation
        return operation

    def select_runs(self, run_ids: list[str]) -> None:
        self.runs.select(run_ids)

    def set_smoothing(self, weight: float) -> None:
        self.smoothing.setValue(round(weight * 100))

    def set_axis(self, axis: XAxis) -> None:
        self.axis.setCurrentIndex(list(_AXES.values()).index(axis))

    def shown_curves(self) -> dict[str, RunCurves]:
        """The curves of the plotted runs, by run id, in the list's order."""
        return {run_id: shown.curves for run_id, shown in self._shown.items()}

    def export_csv(self, path: Path) -> Operation:
        """Write the plotted runs' points to ``path`` in the background."""
        snapshot = {run_id: shown.curves.snapshot() for run_id, shown in self._shown.items()}
        operation = call_in_background(lambda: export_csv(path, snapshot), self)
        operation.finished.connect(lambda rows: self._exported(path, f"{rows:,} points"))
        operation.failed.connect(lambda error: self.notice.error(f"Cannot write {path}: {error}"))
        return operation

    def export_png(self, path: Path) -> None:
        if self.plots.grab().save(str(path)):
            self._exported(path, "the plots")
        else:
            self.notice.error(f"Cannot write {path}: choose a folder you can write to")

    def shutdown(self) -> None:
        """Cancel every follower and load; called on close."""
        self._timer.stop()
        for run_id in [*self._shown, *self._background]:
            self._forget(run_id)
        for operation in (self._listing, self._results_reading):
            if operation is not None:
                operation.cancel()
        self.try_it.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)

    # -- building ------------------------------------------------------------------

    def _layout(self) -> None:
        top = QHBoxLayout()
        for widget in (self.refresh_button, self.everywhere, self.stop_button, self.pause_button):
            top.addWidget(widget)
        top.addWidget(self.resume_button)
        top.addWidget(self.rename_button)
        top.addWidget(self.promote_button)
        top.addStretch()
        # The curves' own controls sit over them: in one row with the runs' actions, they
        # made the tab wider than a 1280-pixel window, whose plots were then cut off.
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Smoothing:"))
        controls.addWidget(self.smoothing)
        controls.addWidget(self.smoothing_value)
        controls.addSpacing(16)
        controls.addWidget(QLabel("X axis:"))
        controls.addWidget(self.axis)
        controls.addStretch()
        controls.addWidget(self.csv_button)
        controls.addWidget(self.png_button)

        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.runs)
        side.addWidget(self.stats)
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 2)
        curves = QWidget()
        column = QVBoxLayout(curves)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(controls)
        column.addWidget(self.progress)
        column.addWidget(self.plots, 1)
        self.views.addTab(curves, "Curves")
        self.views.addTab(self.results, "Results")
        self.views.addTab(self.try_it, "Try it")
        self.views.setTabToolTip(
            1, "What the run you clicked learned: its final validation per class, and plots"
        )
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(side)
        main.addWidget(self.views)
        main.setStretchFactor(0, 1)
        main.setStretchFactor(1, 3)
        main.setSizes([500, 866])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addWidget(main, 1)

    def _connect(self) -> None:
        self.refresh_button.clicked.connect(self.refresh)
        self.everywhere.toggled.connect(self.refresh)
        self.stop_button.clicked.connect(lambda: self._act("stop", self.backend.stop))
        self.pause_button.clicked.connect(lambda: self._act("pause", self.backend.pause))
        self.resume_button.clicked.connect(lambda: self._act("resume", self.backend.resume))
        self.rename_button.clicked.connect(self._ask_name)
        self.promote_button.clicked.connect(self._ask_model_name)
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.axis.currentTextChanged.connect(self._axis_changed)
        self.csv_button.clicked.connect(self._ask_csv)
        self.png_button.clicked.connect(self._ask_png)
        self.runs.itemSelectionChanged.connect(self._selection_changed)
        self.runs.currentItemChanged.connect(lambda *_: self._show_progress())
        self.runs.currentItemChanged.connect(lambda *_: self._show_results())
        self.runs.currentItemChanged.connect(lambda *_: self._offer_to_try())
        self.views.currentChanged.connect(lambda _: self._show_results())
        self.runs.itemSelectionChanged.connect(self._compare_selected)

    # -- runs and selection --------------------------------------------------------

    def _runs_read(self, operation: Operation, infos: list[RunInfo], problem: str) -> None:
        if operation is not self._listing:
            return
        self._listing = None
        if problem:
            self.notice.error(problem)
        self.runs.show_runs(infos)
        if self._to_select:
            self.runs.select([run_id for run_id in self._to_select if run_id in self.runs.infos])
            self._to_select = []
        for run_id, shown in [*self._shown.items(), *self._background.items()]:
            info = self.runs.infos.get(run_id)
            if info is None:
                self._forget(run_id)
                continue
            shown.info = info
            if self._live(info) and not shown.following:  # resumed since it was read
                self._watch(shown)
        for info in infos:
            if info.remote and self._live(info) and info.run_id not in self._followed():
                shown = self._background[info.run_id] = _Shown(info, QColor())
                self._watch(shown)
        self._selection_changed()
        self.runs_loaded.emit(infos)

    def _live(self, info: RunInfo) -> bool:
        return info.status in _LIVE or info.run_id in self._resumed

    def _followed(self) -> set[str]:
        return {*self._shown, *self._background}

    def _selection_changed(self) -> None:
        selected = [i for i in self.runs.selected_ids() if self.runs.infos[i].summary]
        if self._state is not None and not self._to_select:
            self._state.setValue(_SELECTED_KEY, selected)
        for run_id in [r for r in self._shown if r not in selected]:
            if self._shown[run_id].following and self._shown[run_id].info.remote:
                self._background[run_id] = self._shown.pop(run_id)  # still followed
                self.plots.remove(run_id)
            else:
                self._forget(run_id)
        used = {shown.colour.name() for shown in self._shown.values()}
        free = [colour for colour in PALETTE if colour not in used]
        for run_id in selected:
            if run_id not in self._shown:
                colour = QColor(free.pop(0) if free else PALETTE[len(self._shown) % len(PALETTE)])
                shown = self._background.pop(run_id, None)
                if shown is None:
                    shown = _Shown(self.runs.infos[run_id], colour)
                    self._watch(shown)
                shown.colour, shown.drawn = colour, -1
                self._shown[run_id] = shown
        # Keep the list's order: colours, legend and table read top to bottom.
        self._shown = {run_id: self._shown[run_id] for run_id in selected}
        self.runs.mark({run_id: shown.colour for run_id, shown in self._shown.items()})
        if self._shown or self._background:
            self._timer.start()
        else:
            self._timer.stop()
        self._fill_stats()
        self._show_progress()
        self._update_buttons()

    def _watch(self, shown: _Shown) -> None:
        """Follow a run that is still going; read one that has ended."""
        if shown.operation is not None:
            shown.operation.cancel()
        folder = shown.info.folder
        shown.curves, shown.inbox, shown.drawn = RunCurves(folder.run_id), deque(), -1
        shown.fold = _fold(shown.info)
        shown.following = self._live(shown.info)
        self._resumed.discard(folder.run_id)
        if shown.following:
            operation = run_in_background(_follow(self.backend, folder, shown.inbox), self)
            operation.finished.connect(lambda _: self._follow_ended(operation))
            operation.failed.connect(lambda _: self._follow_ended(operation, refresh=False))
        else:
            operation = call_in_background(lambda: read_curves(folder), self)
            operation.finished.connect(lambda curves: self._read(shown, operation, curves))
        operation.failed.connect(lambda error: self.notice.error(f"Run {folder.run_id}: {error}"))
        shown.operation = operation

    def _read(self, shown: _Shown, operation: Operation, curves: RunCurves) -> None:
        if shown.operation is operation:
            shown.curves = curves

    def _follow_ended(self, operation: Operation, *, refresh: bool = True) -> None:
        """After a run's follower: a refresh reads its new status and best mAP, and follows
        it anew if it was resumed; one that failed is tried again at the next refresh."""
        for run_id, shown in [*self._shown.items(), *self._background.items()]:
            if shown.operation is operation:
                shown.following = False
                self._background.pop(run_id, None)
                if refresh:
                    self.refresh()

    def _forget(self, run_id: str) -> None:
        shown = self._shown.pop(run_id, None) or self._background.pop(run_id)
        if shown.operation is not None:
            shown.operation.cancel()
        self.plots.remove(run_id)

    # -- actions -------------------------------------------------------------------

    def _applicable(self, verb: str) -> list[RunInfo]:
        infos = [self.runs.infos[run_id] for run_id in self.runs.selected_ids()]
        if verb == "resume":
            return [i for i in infos if i.summary and i.summary.resumable and not i.alive]
        return [i for i in infos if i.status in _LIVE and i.alive]

    def _update_buttons(self) -> None:
        for verb, button in (
            ("stop", self.stop_button),
            ("pause", self.pause_button),
            ("resume", self.resume_button),
        ):
            button.setEnabled(bool(self._applicable(verb)))
        self.rename_button.setEnabled(self._renamable() is not None)
        self.promote_button.setEnabled(self._promotable() is not None)
        self.csv_button.setEnabled(bool(self._shown))
        self.png_button.setEnabled(bool(self._shown))

    def _act(self, verb: str, action: Callable[[RunFolder], None]) -> None:
        folders = [info.folder for info in self._applicable(verb)]

        def work() -> None:
            for folder in folders:
                action(folder)

        names = ", ".join(folder.run_id for folder in folders)
        operation = call_in_background(work, self)
        operation.finished.connect(lambda _: self._acted(verb, folders))
        operation.failed.connect(lambda error: self.notice.error(f"Cannot {verb} {names}: {error}"))

    def _acted(self, verb: str, folders: list[RunFolder]) -> None:
        done = {
            "stop": "asked to stop after the current batch",
            "pause": "asked to pause after the current batch",
            "resume": "resumed",
        }
        if verb == "resume":
            self._resumed.update(folder.run_id for folder in folders)
        names = ", ".join(folder.run_id for folder in folders)
        self.notice.success(f"{names}: {done[verb]}.")
        self.refresh()

    def _renamable(self) -> RunInfo | None:
        """The one selected run, when this machine launched it (its name is kept here)."""
        infos = [self.runs.infos[run_id] for run_id in self.runs.selected_ids()]
        if len(infos) != 1 or infos[0].record is None:
            return None
        return None if self.backend.others.holds(infos[0].folder) else infos[0]

    def _ask_name(self) -> None:
        info = self._renamable()
        if info is None or info.record is None:
            return
        name, given = QInputDialog.getText(
            self,
            "Rename run",
            f"New name for run {info.run_id}\n(letters, digits, '.', '_' or '-'):",
            text=info.record.label,
        )
        if not given or name == info.record.name:
            return
        operation = call_in_background(lambda: self.backend.rename(info.folder, name), self)
        operation.finished.connect(self._renamed)
        operation.failed.connect(lambda error: self.notice.error(f"Not renamed: {error}"))

    def _renamed(self, result: tuple[RunRecord, str]) -> None:
        record, kept = result
        if kept:
            self.notice.warning(
                f"{record.run_id} is now named {record.name} here; the store's copy keeps "
                f"its old name: {kept}"
            )
        else:
            self.notice.success(f"{record.run_id} is now named {record.name}.")
        self.refresh()

    def _promotable(self) -> RunInfo | None:
        """The one selected run, when it finished or stopped: its best weights were validated."""
        infos = [self.runs.infos[run_id] for run_id in self.runs.selected_ids()]
        if len(infos) != 1 or infos[0].record is None or infos[0].status not in PROMOTABLE:
            return None
        return infos[0]

    def _ask_model_name(self) -> None:
        info = self._promotable()
        if info is None or info.record is None:
            return
        dataset = info.record.dataset.partition("@")[0].rpartition("/")[2]
        name, given = QInputDialog.getText(
            self,
            "Promote run",
            f"Model to add the best weights of {info.record.label} to, as its newest "
            "version\n([OWNER/]NAME; letters, digits, '.', '_' or '-'):",
            text=dataset,
        )
        if not given:
            return
        backend, folder = self.backend, info.folder
        operation = call_in_background(
            lambda: promote_run(
                folder, name, backend.workspace, trained_here=backend.trained_here(folder)
            ),
            self,
        )
        operation.finished.connect(
            lambda version: self.notice.success(
                f"{info.record.label if info.record else folder.run_id} is now the newest "
                f"version of the model {version.owner}/{version.name}."
            )
        )
        operation.failed.connect(lambda error: self.notice.error(f"Not promoted: {error}"))
        self.notice.info(f"Promoting {info.record.label}…")

    # -- view options and exports --------------------------------------------------

    def _smoothing_changed(self, value: int) -> None:
        self._smoothing = value / 100
        self.smoothing_value.setText(f"{self._smoothing:.2f}")
        self._invalidate()

    def _axis_changed(self, text: str) -> None:
        if self._state is not None:
            self._state.setValue(_AXIS_KEY, text)
        self._axis = _AXES[text]
        self.plots.set_axis(self._axis)
        self._invalidate()

    def _invalidate(self) -> None:
        for shown in self._shown.values():
            shown.drawn = -1

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", "curves.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "curves.png", "PNG (*.png)")
        if path:
            self.export_png(Path(path))

    def _exported(self, path: Path, what: str) -> None:
        self.notice.success(f"Wrote {what} to {path}.")
        self.exported.emit(path)

    # -- drawing -------------------------------------------------------------------

    def _redraw(self) -> None:
        """The timer's tick: fold new events in, redraw what changed, nothing otherwise."""
        for shown in self._background.values():
            if shown.drain():
                self._update_row(shown)
        changed = False
        for run_id, shown in self._shown.items():
            if shown.drain():
                self._update_row(shown)
            if shown.curves.version == shown.drawn:
                continue
            record = shown.info.record
            label = record.label if record else run_id
            self.plots.draw(run_id, shown.curves, shown.colour, self._smoothing, label)
            shown.drawn = shown.curves.version
            changed = True
        if changed:
            self._fill_stats()
            self._show_progress()
            self.redrawn.emit()

    def _update_row(self, shown: _Shown) -> None:
        """A live run's row as its events tell it: running once set up, its epochs and best
        mAP as they come (it said "preparing" until the run had ended)."""
        shown.info = replace(shown.info, summary=shown.fold.summary())
        self.runs.show_run(shown.info)
        self._update_buttons()

    def _fill_stats(self) -> None:
        """Rows are rebuilt only when the set of series changes; otherwise texts are updated.

        New items and contents-sized columns re-measure the whole table on each
        change: done per tick for a live run, that cost 300 ms a frame.
        """
        rows = [
            (run_id, name, stats)
            for run_id, shown in self._shown.items()
            for name, series in shown.curves.series.items()
            if (stats := series.stats()) is not None
        ]
        keys = [(run_id, name) for run_id, name, _ in rows]
        rebuild = keys != self._stats_keys
        if rebuild:
            self._stats_keys = keys
            self.stats.clearContents()
            self.stats.setRowCount(len(rows))
        for row, (run_id, name, stats) in enumerate(rows):
            if rebuild:
                shown_run = self._shown[run_id]
                record = shown_run.info.record
                label = record.label if record else run_id.rsplit("-")[-1]
                run = QTableWidgetItem(swatch(shown_run.colour), label)
                run.setToolTip(as_written(run_id))
                self.stats.setItem(row, 0, run)
                self.stats.setItem(row, 1, QTableWidgetItem(name))
                for column in range(2, len(_STATS_COLUMNS)):
                    item = QTableWidgetItem()
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                    self.stats.setItem(row, column, item)
            for column, value in enumerate((stats.min, stats.max, stats.last), start=2):
                cell, text = self.stats.item(row, column), f"{value:.4g}"
                if cell is not None and cell.text() != text:
                    cell.setText(text)
        if rebuild:
            self.stats.resizeColumnsToContents()

    def _compare_selected(self) -> None:
        """The hyperparameters of the selected runs, side by side in the Results tab."""
        infos = [self.runs.infos[run_id] for run_id in self.runs.selected_ids()]
        records = [info.record for info in infos if info.record is not None]
        self.results.compare([r.label for r in records], [r.spec for r in records])

    def _offer_to_try(self) -> None:
        current = self.runs.currentItem()
        info = self.runs.infos.get(self.runs.run_id_of(current)) if current else None
        if info is not None:
            self.try_it.set_run(info.folder, info.record.label if info.record else info.run_id)

    def _show_results(self) -> None:
        """The Results tab, once shown, follows the current run (the one last clicked)."""
        current = self.runs.currentItem()
        info = self.runs.infos.get(self.runs.run_id_of(current)) if current else None
        if self.views.currentWidget() is not self.results or info is None:
            return
        if self._results_reading is not None:
            self._results_reading.cancel()
        folder = info.folder
        label = info.record.label if info.record else folder.run_id
        reading = call_in_background(folder.events, self)
        reading.finished.connect(lambda events: self.results.show_run(folder, label, events))
        reading.failed.connect(lambda error: self.notice.error(f"Cannot read {label}: {error}"))
        self._results_reading = reading

    def _show_progress(self) -> None:
        """The progress of the current run (the one last clicked), or of the first plotted."""
        current = self.runs.currentItem()
        run_id = self.runs.run_id_of(current) if current is not None else ""
        shown = self._shown.get(run_id) or next(iter(self._shown.values()), None)
        if shown is None:
            self.progress.hide()
            return
        progress = shown.curves.progress()
        self.progress.setValue(round(progress.fraction * 1000))
        record = shown.info.record
        label = record.label if record else shown.info.run_id
        text = f"{label}: epoch {progress.epoch}/{progress.epochs}"
        if progress.batch:
            text += f", batch {progress.batch}/{progress.batches}"
        if progress.eta_s is not None:
            text += f", about {duration(progress.eta_s)} left"
        elif shown.info.summary is not None and shown.info.status not in _LIVE:
            text += f" ({shown.info.summary.label})"
        self.progress.setFormat(text)
        self.progress.show()
