"""Tree rows that sort numbers as numbers, for the lists of datasets and runs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItem

SORT_KEY = Qt.ItemDataRole.UserRole + 1
"""The role holding a cell's value to sort by; cells without one sort by their text."""


class SortableItem(QTreeWidgetItem):
    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        mine, theirs = self.data(column, SORT_KEY), other.data(column, SORT_KEY)
        if mine is not None and theirs is not None:
            return bool(mine < theirs)
        return self.text(column).lower() < other.text(column).lower()
