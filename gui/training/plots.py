"""The grid of training plots: one colour per run, every run overlaid on each plot.

What each plot shows is data (:class:`PlotSpec`), and every curve is drawn by
the same code, so adding a plot is one line. Curves are created once per
(plot, run, series) and then only given new data: pyqtgraph keeps each one
downsampled to the pixels it covers and clipped to the visible range, which is
what keeps a 100,000-point curve cheap to redraw.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGridLayout, QWidget

from datayard.core.training.curves import BATCH, LR, METRICS, TRAIN, VAL, RunCurves, XAxis

DEFAULT_LOSSES = ("box_loss", "cls_loss", "dfl_loss")
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
"""Tableau's ten: distinct for most colour-blind readers, and on light and dark grounds."""

X_LABELS = {XAxis.STEP: "batch step", XAxis.EPOCH: "epoch", XAxis.WALL: "seconds since start"}
_RAW_ALPHA = 70


@dataclass(frozen=True)
class Line:
    series: str
    dashed: bool = False
    smoothed: bool = False
    """Per-batch values: drawn raw and faint, with the smoothed curve over them."""
    symbols: bool = False


_DOTS_UP_TO = 50
"""Epoch curves with more points than this are drawn as lines only."""


@dataclass(frozen=True)
class PlotSpec:
    key: str
    title: str
    lines: tuple[Line, ...]


def plot_specs(losses: list[str]) -> list[list[PlotSpec]]:
    """Rows of plots: per-batch losses, per-epoch losses, then metrics and learning rate."""
    return [
        [
            PlotSpec(f"batch:{name}", f"{name} per batch", (Line(BATCH + name, smoothed=True),))
            for name in losses
        ],
        [
            PlotSpec(
                f"epoch:{name}",
                f"{name} per epoch: train ——, val - - -",
                (Line(TRAIN + name, symbols=True), Line(VAL + name, dashed=True, symbols=True)),
            )
            for name in losses
        ],
        [
            PlotSpec(
                "pr",
                "precision ——, recall - - -",
                (Line(METRICS + "precision"), Line(METRICS + "recall", dashed=True)),
            ),
            PlotSpec(
                "map",
                "mAP50 ——, mAP50-95 - - -",
                (Line(METRICS + "mAP50"), Line(METRICS + "mAP50-95", dashed=True)),
            ),
            PlotSpec("lr", "learning rate", (Line(LR),)),
        ],
    ]


CurveKey = tuple[str, str, str]
"""(run id, series, role): role is ``raw``, ``smooth`` or ``line``."""


class CurvePlots(QWidget):
    """The plots; :meth:`draw` gives one run's curves their data, creating them once."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, dict[CurveKey, pg.PlotDataItem]] = {}
        """Per plot key, the curves it holds: what tests and exports read back."""
        self.losses: list[str] = []
        self._specs: list[PlotSpec] = []
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self._legend: pg.LegendItem | None = None
        self._in_legend: dict[str, pg.PlotDataItem] = {}
        """Each run's curve that the legend shows, by run id."""
        self._axis = XAxis.STEP
        self.ensure_losses(list(DEFAULT_LOSSES))

    def ensure_losses(self, names: list[str]) -> None:
        """Add a column of loss plots for any loss a run reports that is not shown yet."""
        new = [name for name in names if name not in self.losses]
        if not new and self.plots:
            return
        self.losses.extend(new)
        self._specs = []
        for row, specs in enumerate(plot_specs(self.losses)):
            for column, spec in enumerate(specs):
                self._specs.append(spec)
                if spec.key not in self.plots:
                    self.plots[spec.key] = self._new_plot(spec)
                    self.curves[spec.key] = {}
                self._grid.addWidget(self.plots[spec.key], row, column)
        if self._legend is None:
            base = self.palette().color(QPalette.ColorRole.Base)
            base.setAlpha(200)
            self._legend = self.plots[f"batch:{self.losses[0]}"].addLegend(
                offset=(-4, 4),
                labelTextColor=self.palette().color(QPalette.ColorRole.WindowText),
                brush=base,
            )

    @property
    def legend(self) -> pg.LegendItem | None:
        return self._legend

    def set_axis(self, axis: XAxis) -> None:
        self._axis = axis
        for plot in self.plots.values():
            plot.setLabel("bottom", X_LABELS[axis])
            plot.enableAutoRange()

    def draw(
        self, run_id: str, curves: RunCurves, colour: QColor, weight: float, label: str
    ) -> None:
        """Give every curve of ``run_id`` its current data on the current x axis; the
        legend calls the run ``label`` (its name, as the runs list does)."""
        self.ensure_losses(curves.loss_names)
        for spec in self._specs:
            for line in spec.lines:
                series = curves.get(line.series)
                if series is None or not len(series):
                    continue
                x, y = series.x(self._axis), series.values
                if not line.smoothed:
                    curve = self._curve(spec, run_id, line, "line", colour)
                    if line.symbols:  # dots cost more than they show on long runs
                        curve.setSymbol("o" if x.size <= _DOTS_UP_TO else None)
                    curve.setData(x, y)
                    continue
                raw = self._curve(spec, run_id, line, "raw", colour)
                raw.setVisible(weight > 0)
                if weight > 0:
                    raw.setData(x, y)
                smoothed = series.smoothed(weight)
                self._curve(spec, run_id, line, "smooth", colour).setData(x, smoothed)
        self._name_in_legend(run_id, label)

    def remove(self, run_id: str) -> None:
        named = self._in_legend.pop(run_id, None)
        if named is not None and self._legend is not None:
            self._legend.removeItem(named)
            self._legend.setVisible(len(self._in_legend) > 1)
        for key, curves in self.curves.items():
            for curve_key in [k for k in curves if k[0] == run_id]:
                self.plots[key].removeItem(curves.pop(curve_key))

    def _name_in_legend(self, run_id: str, label: str) -> None:
        if run_id in self._in_legend or self._legend is None:
            return
        first = self.curves[f"batch:{self.losses[0]}"].get(
            (run_id, BATCH + self.losses[0], "smooth")
        )
        if first is not None:
            self._legend.addItem(first, label)
            self._in_legend[run_id] = first
            # One run is named by the headline already; the legend would only hide its curve.
            self._legend.setVisible(len(self._in_legend) > 1)

    def _curve(
        self, spec: PlotSpec, run_id: str, line: Line, role: str, colour: QColor
    ) -> pg.PlotDataItem:
        curves = self.curves[spec.key]
        key = (run_id, line.series, role)
        curve = curves.get(key)
        if curve is not None:
            return curve
        tint = QColor(colour)
        if role == "raw":
            tint.setAlpha(_RAW_ALPHA)
        style = Qt.PenStyle.DashLine if line.dashed else Qt.PenStyle.SolidLine
        pen = pg.mkPen(tint, width=1 if role == "raw" else 2, style=style)
        symbols = {"symbol": "o", "symbolSize": 4, "symbolBrush": tint, "symbolPen": None}
        curve = pg.PlotDataItem(pen=pen, **(symbols if line.symbols else {}))
        curve.setZValue(0 if role == "raw" else 1)
        self.plots[spec.key].addItem(curve)
        # After addItem, which imposes the plot's (default: off) settings on the curve.
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        curves[key] = curve
        return curve

    def _new_plot(self, spec: PlotSpec) -> pg.PlotWidget:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        plot = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
        plot.setTitle(spec.title, size="9pt", color=text)
        plot.setLabel("bottom", X_LABELS[self._axis])
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setMinimumSize(160, 120)
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(text)
            axis.setTextPen(text)
        return plot
