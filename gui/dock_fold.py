"""A bottom dock that folds down to its widget's smallest height and opens at the height the
user gave it, remembered from one start to the next.

Folding holds the dock to its minimum height, so the room goes to the central widget and
its separator cannot be dragged open over nothing. Docks tabbed together share one height:
while another tab of the group is raised the hold is lifted, so that tab gets its room.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QWidget

_UNBOUNDED = 16_777_215  # QWIDGETSIZE_MAX
_DEFAULT_HEIGHT = 240


class DockFold(QObject):
    def __init__(
        self, window: QMainWindow, dock: QDockWidget, *, state: QSettings | None, key: str
    ) -> None:
        """``state`` under ``key`` keeps the open height from one start to the next."""
        super().__init__(window)
        self._window = window
        self._dock = dock
        self._state = state
        self._key = key
        self._folded = False
        self._raised = True
        dock.visibilityChanged.connect(self._on_visibility)

    def set_folded(self, folded: bool) -> None:
        if folded == self._folded:
            return
        if folded:
            self.remember()
        self._folded = folded
        self._hold()
        if not folded:
            self._open()

    def remember(self) -> None:
        """Keep the open dock's height (the user's, if they dragged its separator)."""
        if self._state is not None and not self._folded and self._docked():
            self._state.setValue(self._key, self._dock.height())

    def _height(self) -> int:
        value = self._state.value(self._key) if self._state is not None else None
        try:
            return max(int(str(value)), self._dock.minimumSizeHint().height())
        except ValueError:  # never opened yet (None), or a hand-edited value
            return _DEFAULT_HEIGHT

    def _docked(self) -> bool:
        return self._raised and self._dock.isVisible() and not self._dock.isFloating()

    def _hold(self) -> None:
        """The tab group shares one height, at least each tab's minimum: all are held."""
        held = self._folded and self._docked()
        for widget in (self._dock.widget(), self._dock):  # just folded: their hints are stale
            _lay_out(widget)
        line = self._dock.minimumSizeHint().height()
        for dock in (self._dock, *self._window.tabifiedDockWidgets(self._dock)):
            dock.setMinimumHeight(min(line, dock.minimumSizeHint().height()) if held else 0)
            dock.setMaximumHeight(line if held else _UNBOUNDED)

    def _on_visibility(self, visible: bool) -> None:
        """Another tab raised over the folded dock opens to the height the group had open."""
        self._raised = visible
        self._hold()
        if self._folded and not visible:
            QTimer.singleShot(0, self, self._open)  # once the raised tab is on screen

    def _open(self) -> None:
        """Docks tabbed together are sized with their tab bar: the first try tells by how much."""
        group = [self._dock, *self._window.tabifiedDockWidgets(self._dock)]
        shown = [d for d in group if not d.isFloating() and not d.visibleRegion().isEmpty()]
        if not shown or (self._folded and self._raised):
            return  # folded again, or nothing of the group on screen
        dock, wanted = shown[0], self._height()
        # The hold just lifted: a resize within it would be undone once it is laid out.
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)
        _lay_out(self._window)
        self._window.resizeDocks([dock], [wanted], Qt.Orientation.Vertical)
        _lay_out(self._window)
        if dock.height() < wanted:
            self._window.resizeDocks([dock], [2 * wanted - dock.height()], Qt.Orientation.Vertical)


def _lay_out(widget: QWidget) -> None:
    """Now, not at the next turn of the event loop: what follows reads the result."""
    layout = widget.layout()
    if layout is not None:
        layout.activate()
