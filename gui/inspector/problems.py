"""The check report grouped by problem: a heading with its fix, then the files it concerns."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QHeaderView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from datayard.core.drive.check import Severity
from datayard.core.drive.inspection import ProblemGroup

from ..rich_text import as_written, quoted

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
HINT_ROLE = Qt.ItemDataRole.UserRole + 2
LINE_ROLE = Qt.ItemDataRole.UserRole + 3
_ICONS = {
    Severity.ERROR: QStyle.StandardPixmap.SP_MessageBoxCritical,
    Severity.WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning,
    Severity.INFO: QStyle.StandardPixmap.SP_MessageBoxInformation,
}


def elide_path(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` in ``width`` pixels, cut among the folders between its start and its file name.

    Qt's own middle elision cuts the string's middle: often the file name's start.
    """
    if metrics.horizontalAdvance(text) <= width:
        return text
    cut = max(text.rfind("/"), text.rfind(os.sep)) + 1
    room = width - metrics.horizontalAdvance(text[cut:])
    if not cut or room < metrics.horizontalAdvance(_LEAST_FOLDERS):
        return metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, width)
    return metrics.elidedText(text[:cut], Qt.TextElideMode.ElideMiddle, room) + text[cut:]


_LEAST_FOLDERS = "abc…/"
"""Less room than this for the folders, and the file name is cut too."""


class _PathDelegate(QStyledItemDelegate):
    """Long paths lose the middle of their folders: where they start and the file name stay.

    Headings and details keep their ends."""

    def initStyleOption(  # noqa: N802 - Qt override
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        if index.parent().isValid():
            style = option.widget.style() if option.widget else QApplication.style()
            # The text's margin in the cell, as Qt's styles draw an item's text.
            margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1
            option.text = elide_path(
                option.text, option.fontMetrics, option.rect.width() - 2 * margin
            )
            option.textElideMode = Qt.TextElideMode.ElideMiddle


class ProblemTree(QTreeWidget):
    """Groups expanded for errors and warnings; double-click opens a file in its application.

    A heading's fix hint is long prose: it is shown wrapped in :attr:`hint`, not in a cell.
    """

    file_selected = Signal(object, object)
    """The user selected a file row: its ``Path``, and the line of the file it is about
    (1-based) or ``None``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Problem / file", "Detail"])
        self.setAlternatingRowColors(True)
        self.setItemDelegateForColumn(0, _PathDelegate(self))
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.header().setStretchLastSection(True)
        self.itemDoubleClicked.connect(self._open)
        self.itemSelectionChanged.connect(self._on_selection)
        self.root: Path | None = None
        self.hint = QLabel()
        """What to do about the problem selected (or the first one), for a place under the tree."""
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)

    def show_problems(self, groups: Sequence[ProblemGroup], root: Path | None) -> None:
        """``root`` shortens the paths shown (the full path is in the tooltip)."""
        self.clear()
        self.root = root
        bold = QFont(self.font())
        bold.setBold(True)
        for group in groups:
            heading = QTreeWidgetItem([f"{group.heading} ({len(group.rows)})"])
            heading.setIcon(0, self.style().standardIcon(_ICONS[group.severity]))
            heading.setFont(0, bold)
            heading.setToolTip(0, group.hint)
            heading.setData(0, HINT_ROLE, f"<b>{quoted(group.heading)}</b>: {quoted(group.hint)}")
            for row in group.rows:
                child = QTreeWidgetItem([self._shown(row.path), row.detail])
                child.setData(0, PATH_ROLE, row.path)
                child.setData(0, LINE_ROLE, row.line)
                child.setToolTip(0, as_written(str(row.path)))
                child.setToolTip(1, as_written(row.detail))
                heading.addChild(child)
            self.addTopLevelItem(heading)
            heading.setFirstColumnSpanned(True)
            heading.setExpanded(group.severity is not Severity.INFO)
        first = self.topLevelItem(0)
        self.hint.setText(self._hint_of(first) if first is not None else "")
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Paths on the left, the hints (which wrap) on the right."""
        self.setColumnWidth(0, max(self.viewport().width() * 9 // 20, 160))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_columns()

    def _shown(self, path: Path) -> str:
        if self.root is not None and self.root in path.parents:
            return path.relative_to(self.root).as_posix()
        return str(path)

    def groups(self) -> list[QTreeWidgetItem]:
        found = (self.topLevelItem(i) for i in range(self.topLevelItemCount()))
        return [group for group in found if group is not None]

    def headings(self) -> list[str]:
        return [group.text(0) for group in self.groups()]

    def paths_of(self, heading_prefix: str) -> list[Path]:
        for group in self.groups():
            if group.text(0).startswith(heading_prefix):
                rows = (group.child(j) for j in range(group.childCount()))
                return [row.data(0, PATH_ROLE) for row in rows if row is not None]
        return []

    @staticmethod
    def _hint_of(item: QTreeWidgetItem) -> str:
        group = item.parent() or item
        return str(group.data(0, HINT_ROLE) or "")

    def _on_selection(self) -> None:
        for item in self.selectedItems()[:1]:
            self.hint.setText(self._hint_of(item))
        for item in self.selectedItems():
            path = item.data(0, PATH_ROLE)
            if path is not None:
                self.file_selected.emit(path, item.data(0, LINE_ROLE))
                return

    def _open(self, item: QTreeWidgetItem, _column: int) -> None:
        path = item.data(0, PATH_ROLE)
        if path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
