"""The list of training runs, one row per run folder: this machine's, and on request
copies of the store's runs that other machines and clusters launched."""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from datayard.core.errors import DatayardError
from datayard.core.hosts.registry import LOCAL_HOST
from datayard.core.training.backends import Backends
from datayard.core.training.job_watch import with_job
from datayard.core.training.runs import RunFolder, RunRecord, RunStatus, RunSummary
from datayard.core.units import duration

from ..rich_text import as_written
from ..sortable import SORT_KEY, SortableItem

COLUMNS = ("Run", "Status", "Where", "Best mAP50-95", "Duration", "Dataset", "Model")
_RUN, _STATUS, _WHERE, _BEST, _DURATION, _DATASET, _MODEL = range(len(COLUMNS))
_WIDEST = {_RUN: 240, _STATUS: 220, _WHERE: 160, _DATASET: 260, _MODEL: 200}
"""Pixels a column grows to for its contents; past that its text is cut in the middle
(owner/name…@v12) and the cell's tooltip holds it whole."""
THIS_COMPUTER = "this computer"


@dataclass(frozen=True)
class RunInfo:
    """What the list shows of one run, read in the background (it reads every events file)."""

    folder: RunFolder
    record: RunRecord | None
    summary: RunSummary | None
    alive: bool
    host: str = LOCAL_HOST
    """The host it trains on; :data:`LOCAL_HOST` for this computer."""
    problem: str = ""
    """Why the run's files could not be read; the row says so instead of vanishing."""

    @property
    def run_id(self) -> str:
        return self.folder.run_id

    @property
    def status(self) -> RunStatus | None:
        return self.summary.status if self.summary else None

    @property
    def remote(self) -> bool:
        return self.host != LOCAL_HOST

    @property
    def where(self) -> str:
        return self.host if self.remote else THIS_COMPUTER


def read_runs(backend: Backends) -> list[RunInfo]:
    """Every run of the backend's registry with its summary, newest first."""
    return _with_jobs(backend, [_info(backend, folder) for folder in backend.registry.all()])


def read_store_runs(backend: Backends) -> list[RunInfo]:
    """The runs in the default profile's store that this machine did not launch, from
    their copies here, brought up to date (:meth:`Backends.store_copies`)."""
    return _with_jobs(backend, [_info(backend, folder) for folder in backend.store_copies()])


def _with_jobs(backend: Backends, infos: list[RunInfo]) -> list[RunInfo]:
    """Cluster runs that go on, told with their Jobs: why a pod waits, and the failure of
    a worker gone without storing its end (:func:`with_job`)."""
    # The infos hold each run's record and status already: only the Jobs are asked.
    going = [i.folder for i in infos if i.record and i.status and not i.status.ended]
    jobs = backend.cluster.statuses(going) if going else {}
    found = []
    for info in infos:
        job = jobs.get(info.run_id)
        if job is not None and info.summary is not None:
            summary = with_job(info.summary, job)
            info = replace(info, summary=summary, alive=not summary.status.ended)
        found.append(info)
    return found


def _info(backend: Backends, folder: RunFolder) -> RunInfo:
    try:
        record, summary = folder.record(), backend.summary(folder)
        alive, host = backend.alive(folder), backend.where(folder)
        return RunInfo(folder, record, summary, alive, host)
    except (DatayardError, OSError, ValueError, KeyError, TypeError) as error:
        # A hand-edited or half-written run.json must not hide the other runs.
        return RunInfo(folder, None, None, alive=False, problem=f"unreadable: {error}")


def remote_runs_going(backend: Backends) -> bool:
    """Whether a run on a host is still going, as its copy here says."""
    return any(
        info.remote and info.status is not None and not info.status.ended
        for info in read_runs(backend)
    )


def duration_text(seconds: float | None) -> str:
    return "" if seconds is None else duration(seconds)


def swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(colour)
    return QIcon(pixmap)


class RunsList(QTreeWidget):
    """Rows are updated in place by run id, so a refresh keeps the user's selection."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.infos: dict[str, RunInfo] = {}
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.setSortingEnabled(True)
        self.sortByColumn(_RUN, Qt.SortOrder.DescendingOrder)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.header().setStretchLastSection(False)
        self.setToolTip("Select runs to plot them; Ctrl-click or Shift-click to overlay several")

    def show_runs(self, infos: list[RunInfo]) -> None:
        new_runs = {info.run_id for info in infos} - set(self.infos)
        self.infos = {info.run_id: info for info in infos}
        rows = {self.run_id_of(item): item for item in self._rows()}
        for run_id, item in rows.items():
            if run_id not in self.infos:
                self.takeTopLevelItem(self.indexOfTopLevelItem(item))
        self.setSortingEnabled(False)
        for info in infos:
            row = rows.get(info.run_id)
            if row is None:
                row = SortableItem()
                row.setData(_RUN, Qt.ItemDataRole.UserRole, info.run_id)
                self.addTopLevelItem(row)
            self._fill(row, info)
        self.setSortingEnabled(True)
        if new_runs:  # not at every refresh: a width the user dragged is kept
            self.fit_columns()

    def fit_columns(self) -> None:
        """Each column as wide as its contents and its header, within its limit."""
        header = self.header()
        for column in range(len(COLUMNS)):
            contents = self.sizeHintForColumn(column)
            limit = _WIDEST.get(column, contents)
            header.resizeSection(column, max(header.sectionSizeHint(column), min(contents, limit)))

    def show_run(self, info: RunInfo) -> None:
        """One run's row anew, in place."""
        self.infos[info.run_id] = info
        for row in self._rows():
            if self.run_id_of(row) == info.run_id:
                self._fill(row, info)

    def selected_ids(self) -> list[str]:
        """In the list's order, so colours and tables read top to bottom."""
        ids = [self.run_id_of(item) for item in self._rows() if item.isSelected()]
        return [run_id for run_id in ids if run_id in self.infos]

    def select(self, run_ids: list[str]) -> None:
        for item in self._rows():
            item.setSelected(self.run_id_of(item) in run_ids)

    def mark(self, colours: dict[str, QColor]) -> None:
        """A swatch of each plotted run's colour: the legend of every plot."""
        for item in self._rows():
            colour = colours.get(self.run_id_of(item))
            item.setIcon(_RUN, swatch(colour) if colour is not None else QIcon())

    def _rows(self) -> list[QTreeWidgetItem]:
        items = (self.topLevelItem(i) for i in range(self.topLevelItemCount()))
        return [item for item in items if item is not None]

    @staticmethod
    def run_id_of(item: QTreeWidgetItem) -> str:
        return str(item.data(_RUN, Qt.ItemDataRole.UserRole))

    @staticmethod
    def _fill(row: QTreeWidgetItem, info: RunInfo) -> None:
        record, summary = info.record, info.summary
        cells = {
            _RUN: record.label if record else info.run_id,
            _DATASET: record.dataset if record else "",
            _MODEL: record.spec.model if record else "",
            _STATUS: summary.label if summary else info.problem,
            _WHERE: info.where if record else "",
            _BEST: f"{summary.best_map:.3f}" if summary and summary.best_map is not None else "",
            _DURATION: duration_text(summary.duration if summary else None),
        }
        for column, text in cells.items():
            row.setText(column, text)
        for column in (_DATASET, _MODEL):  # cut in the middle when long
            row.setToolTip(column, as_written(cells[column]))
        if record is not None:  # the last columns sit behind a scroll in a narrow list
            what = f"trains on: {info.where}\ndataset: {record.dataset}\nmodel: {record.spec.model}"
            row.setToolTip(_RUN, as_written(f"{info.run_id}\n{what}"))
        row.setData(_BEST, SORT_KEY, summary.best_map if summary else None)
        row.setData(_DURATION, SORT_KEY, summary.duration if summary else None)
        for column in (_BEST, _DURATION):
            row.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
        if summary is not None and summary.message:
            row.setToolTip(_STATUS, as_written(summary.message))
        elif info.problem:
            row.setToolTip(_STATUS, as_written(info.problem))
        if summary is not None and summary.best_epoch is not None:
            row.setToolTip(_BEST, f"at epoch {summary.best_epoch}")
