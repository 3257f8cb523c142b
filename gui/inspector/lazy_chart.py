"""A tab that builds its pyqtgraph chart the first time it is seen.

Importing pyqtgraph costs about a third of a second, which the app's start-up
should not pay for charts that sit behind a tab. Data given before the chart
exists is kept and drawn when it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget


class LazyChart(QWidget):
    def __init__(self, build: Callable[[], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build = build
        self._chart: Any = None
        self._pending: tuple[str, tuple[Any, ...]] | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._chart is not None

    def chart(self) -> Any:
        """The chart itself, built now if it was not yet."""
        if self._chart is None:
            self._chart = self._build()
            self._layout.addWidget(self._chart)
            if self._pending is not None:
                method, args = self._pending
                getattr(self._chart, method)(*args)
        return self._chart

    def call(self, method: str, *args: Any) -> None:
        """Call the chart's ``method`` now, or when the chart is built."""
        if self._chart is None:
            self._pending = (method, args)
        else:
            getattr(self._chart, method)(*args)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        self.chart()
        super().showEvent(event)
