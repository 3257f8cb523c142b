"""The class histogram and the image size distribution, drawn with pyqtgraph."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from datayard.core.drive.inspection import ClassCount

MAX_POINTS = 20_000
"""Sizes drawn at most: beyond that a scatter shows nothing more, only costs."""


class ClassHistogram(pg.PlotWidget):  # type: ignore[misc]
    """Objects per class, class names under the bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.getPlotItem().hideButtons()
        self.setLabel("left", "objects")
        self.bars: pg.BarGraphItem | None = None
        self.heights: list[int] = []
        self.names: list[str] = []

    def show_classes(self, classes: Sequence[ClassCount]) -> None:
        self.clear()
        self.names = [count.name for count in classes]
        self.heights = [count.objects for count in classes]
        positions = list(range(len(classes)))
        self.bars = pg.BarGraphItem(x=positions, height=self.heights, width=0.7, brush="#1e88e5")
        self.addItem(self.bars)
        self.getAxis("bottom").setTicks([list(zip(positions, self.names, strict=True))])
        if classes:
            self.setXRange(-0.6, len(classes) - 0.4, padding=0)
            self.setYRange(0, max(self.heights) * 1.1, padding=0)
        self.setTitle("Objects per class" if classes else "No labelled objects")


class SizePlot(pg.PlotWidget):  # type: ignore[misc]
    """Width against height of every image: outliers and mixed resolutions stand out."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.getPlotItem().hideButtons()
        for side, name in (("bottom", "width"), ("left", "height")):
            self.getAxis(side).enableAutoSIPrefix(False)  # 4000 px, not "4 kpx"
            self.setLabel(side, name, units="px")
        self.points = pg.ScatterPlotItem(
            size=7,
            brush=pg.mkBrush(30, 136, 229, 120),
            pen=None,
            hoverable=True,
            tip=size_tip,
        )
        self.addItem(self.points)
        self.count = 0

    def show_sizes(self, sizes: Sequence[tuple[int, int]]) -> None:
        shown = sizes[:: max(1, len(sizes) // MAX_POINTS)]
        self.points.setData([w for w, _ in shown], [h for _, h in shown])
        self.count = len(sizes)
        distinct = len(set(sizes))
        self.setTitle(f"{len(sizes):,} images, {distinct:,} distinct sizes" if sizes else "")


def size_tip(x: float, y: float, data: object) -> str:
    """A point's tooltip: the size in pixels, and in megapixels."""
    return f"{x:.0f} x {y:.0f} px ({x * y / 1e6:.1f} MP)"
