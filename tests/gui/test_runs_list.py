"""The runs list shows each column whole, or cut in the middle with the full text at hand."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from datayard.core.store.workspace import Workspace
from datayard.core.training.backends import Backends
from datayard.core.training.runs import RunRegistry
from datayard.core.training.spec import TrainSpec
from datayard.gui.training.runs_list import COLUMNS, RunsList, read_runs

DATASET = COLUMNS.index("Dataset")


def test_a_long_dataset_name_is_cut_in_the_middle_and_whole_in_its_tooltip(
    qtbot: QtBot, tmp_path: Path
) -> None:
    registry = RunRegistry(tmp_path / "runs")
    long_name = "vision-team/warehouse-pallets-night-shift-thermal-2024-q3@v12"
    registry.create(TrainSpec(dataset=long_name, epochs=1), long_name, "local")
    registry.create(TrainSpec(dataset="me/cats@v1", epochs=1), "me/cats@v1", "local")
    runs = RunsList()
    qtbot.addWidget(runs)
    runs.resize(1000, 300)
    runs.show()
    runs.show_runs(read_runs(Backends.of(Workspace.default(), registry)))

    header = runs.header()
    cells = [runs.topLevelItem(row) for row in range(runs.topLevelItemCount())]
    (long_row,) = [cell for cell in cells if cell is not None and cell.text(DATASET) == long_name]
    assert long_row.toolTip(DATASET) == long_name
    assert header.sectionSize(DATASET) >= header.sectionSizeHint(DATASET)  # the header whole
    metrics = runs.fontMetrics()
    assert header.sectionSize(DATASET) < metrics.horizontalAdvance(long_name)
    assert runs.textElideMode() == Qt.TextElideMode.ElideMiddle
    for column in range(len(COLUMNS)):
        assert header.sectionSize(column) >= header.sectionSizeHint(column), COLUMNS[column]
    short_row = next(cell for cell in cells if cell is not None and cell is not long_row)
    assert metrics.horizontalAdvance(short_row.text(DATASET)) < header.sectionSize(DATASET)

    header.resizeSection(DATASET, 400)  # the user's width survives a refresh
    runs.show_runs(read_runs(Backends.of(Workspace.default(), registry)))
    assert header.sectionSize(DATASET) == 400
