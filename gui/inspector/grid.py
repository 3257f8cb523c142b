"""The thumbnail grid of the inspector, and how the keyboard moves through it."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from datayard.core.drive.thumbnails import THUMBNAIL_PX

from ..thumbnails import ThumbnailModel

_PAGE_MOVES = {
    QAbstractItemView.CursorAction.MovePageDown: 1,
    QAbstractItemView.CursorAction.MovePageUp: -1,
}


class ThumbnailGrid(QListView):
    """Thumbnails in rows; the arrows move by one, Page Up and Page Down by a screenful.

    QListView's own page step in icon mode is the view's height less two
    items: with thumbnails taller than half the view, Page Down moved up.
    """

    def __init__(self, model: ThumbnailModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setModel(model)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.setGridSize(model.cell_size())
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)

    def moveCursor(  # noqa: N802 - Qt override
        self,
        action: QAbstractItemView.CursorAction,
        modifiers: Qt.KeyboardModifier,
    ) -> QModelIndex:
        direction = _PAGE_MOVES.get(action)
        current = self.currentIndex()
        if direction is None or not current.isValid():
            return super().moveCursor(action, modifiers)
        cell, space = self.gridSize(), self.viewport().size()
        page = max(1, space.width() // cell.width()) * max(1, space.height() // cell.height())
        last = self.model().rowCount() - 1
        return self.model().index(min(max(current.row() + direction * page, 0), last), 0)
