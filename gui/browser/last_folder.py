"""The folder last selected in the shared-drive tree, opened and selected again at the next
start.

The tree lists a folder once it is expanded, in a worker, so the way down is opened one
listing at a time. A folder that is gone by then (or a root no longer in the settings)
ends the way quietly: the tree is left as it would be without it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QAbstractItemView, QTreeView

from .tree import FolderTree, Role

_KEY = "browser/folder"


class LastFolder(QObject):
    def __init__(self, tree: QTreeView, model: FolderTree, state: QSettings | None) -> None:
        super().__init__(tree)
        self._tree = tree
        self._model = model
        self._state = state
        value = state.value(_KEY) if state is not None else None
        self._pending = Path(value) if isinstance(value, str) and value else None
        """The folder still to reach; ``None`` once reached, gone, or the user chose another."""
        model.folder_filled.connect(self.resume)

    def remember(self, folders: list[Path]) -> None:
        """The user's choice: kept for the next start, and it ends any way still being opened."""
        if not folders:
            return
        self._pending = None
        if self._state is not None:
            self._state.setValue(_KEY, str(folders[0]))

    def resume(self, filled: str | None = None) -> None:
        """One step down to the folder, after the roots are shown or a folder was ``filled``."""
        target = self._pending
        if target is None:
            return
        item = next(
            (found for p in (target, *target.parents) if (found := self._model.folder(p))),
            None,
        )
        if item is None:
            self._pending = None  # under none of the roots any more
            return
        index = item.index()
        if Path(str(index.data(Role.PATH))) == target:
            self._pending = None
            self._tree.setCurrentIndex(index)
            self._tree.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        elif filled == str(index.data(Role.PATH)):
            self._pending = None  # listed, and the next folder on the way is not in it
        else:
            self._tree.expand(index)  # its listing fills it; the way goes on from there
