"""A run's metrics as plottable series, folded from its events.

The dashboard and any export read the same model: every point of every series
carries its three possible x coordinates (global batch step, fractional epoch,
wall seconds since the run began), so switching the x axis is a lookup, not a
recomputation. Points are appended to Python lists (cheap per event) and moved
into growing numpy buffers only when someone reads the series, so folding a
hundred thousand batch events stays linear and a live plot reading every tenth
of a second copies only what arrived since its last read.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from datayard.core.training.protocol import Batch, Epoch, Setup, TrainingEvent
from datayard.core.training.runs import EventLog, RunFolder

FloatArray = npt.NDArray[np.float64]

BATCH = "batch/"
"""Prefix of per-batch loss series: ``batch/box_loss``."""
TRAIN = "train/"
"""Prefix of per-epoch training loss series: ``train/box_loss``."""
VAL = "val/"
"""Prefix of per-epoch validation loss series: ``val/box_loss``."""
METRICS = "metrics/"
"""Prefix of per-epoch validation metrics: ``metrics/mAP50-95``."""
LR = "lr"
"""The learning rate of each batch."""

CSV_COLUMNS = ("run", "series", "x_step", "x_epoch", "wall_s", "value")
MAX_SMOOTHING = 0.99
_ETA_WINDOW = 5
"""Epochs whose durations predict the next ones: recent enough to follow a slowdown."""


class XAxis(StrEnum):
    STEP = "step"
    EPOCH = "epoch"
    WALL = "wall"


@dataclass(frozen=True)
class Stats:
    """What a table of results shows for one series; NaN points are ignored by min and max."""

    count: int
    min: float
    max: float
    last: float


class Series:
    """One curve: values with their step, epoch and wall-time coordinates."""

    _COLUMNS = 4  # step, epoch, wall, value

    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: list[tuple[float, float, float, float]] = []
        self._buffer: FloatArray = np.empty((self._COLUMNS, 0))
        self._size = 0
        self._smoother: Smoother | None = None
        self._stats: Stats | None = None
        self._smoothed: FloatArray = np.empty(0)

    def __len__(self) -> int:
        return self._size + len(self._pending)

    def append(self, step: float, epoch: float, wall: float, value: float) -> None:
        self._pending.append((step, epoch, wall, value))

    def _flush(self) -> None:
        """Move pending points into the buffer, doubling it when full (amortized O(1))."""
        if not self._pending:
            return
        new = np.array(self._pending, dtype=np.float64).T
        self._pending.clear()
        end = self._size + new.shape[1]
        if end > self._buffer.shape[1]:
            grown = np.empty((self._COLUMNS, max(end, 2 * self._buffer.shape[1], 256)))
            grown[:, : self._size] = self._buffer[:, : self._size]
            self._buffer = grown
        self._buffer[:, self._size : end] = new
        self._size = end

    def _column(self, index: int) -> FloatArray:
        """A read-only view; filled cells never change, so a view handed out stays valid."""
        self._flush()
        view = self._buffer[index, : self._size]
        view.flags.writeable = False
        return view

    def x(self, axis: XAxis) -> FloatArray:
        return self._column({XAxis.STEP: 0, XAxis.EPOCH: 1, XAxis.WALL: 2}[axis])

    @property
    def values(self) -> FloatArray:
        return self._column(3)

    def smoothed(self, weight: float) -> FloatArray:
        """The values smoothed with ``weight``; only points new since the last call are computed."""
        values = self.values
        if self._smoother is None or self._smoother.weight != weight:
            self._smoother, self._smoothed = Smoother(weight), np.empty(0)
        if self._smoothed.size < values.size:
            tail = self._smoother.extend(values[self._smoothed.size :])
            self._smoothed = np.concatenate((self._smoothed, tail))
        return self._smoothed

    def snapshot(self) -> Series:
        """The points so far, safe to read from another thread while this one grows."""
        copy = Series(self.name)
        self._flush()
        copy._buffer, copy._size = self._buffer[:, : self._size], self._size
        return copy

    def stats(self) -> Stats | None:
        """Count, min, max and last; like smoothing, only new points are looked at."""
        values = self.values
        if not values.size:
            return None
        known = self._stats
        seen = known.count if known else 0
        if seen == values.size:
            return known
        tail = values[seen:]
        finite = tail[np.isfinite(tail)]
        bounds = [known.min, known.max] if known else []
        if finite.size:
            bounds += [float(finite.min()), float(finite.max())]
        bounds = [value for value in bounds if not math.isnan(value)]
        low, high = (min(bounds), max(bounds)) if bounds else (math.nan, math.nan)
        self._stats = Stats(count=int(values.size), min=low, max=high, last=float(values[-1]))
        return self._stats


@dataclass(frozen=True)
class Progress:
    """Where a run is: the epoch and batch it is in, and when it should end."""

    epoch: int
    """The epoch in progress (or the last one done), counted from 1; 0 before the first."""
    epochs: int
    epochs_done: int
    batch: int
    batches: int
    eta_s: float | None
    """Seconds left, from recent epoch durations; ``None`` when unknown or ended."""

    @property
    def fraction(self) -> float:
        """Share of all epochs done, counting the current epoch's batches."""
        if self.epochs <= 0:
            return 0.0
        partial = self.batch / self.batches if self.batches and self.epoch > self.epochs_done else 0
        return min(1.0, (self.epochs_done + partial) / self.epochs)


class RunCurves:
    """Every series of one run; feed it events in order with :meth:`add`."""

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        self.series: dict[str, Series] = {}
        self.loss_names: list[str] = []
        """Loss components in the order the worker reported them (``box_loss``, ...)."""
        self.setup: Setup | None = None
        self.version = 0
        """Grows with every event added: a view redraws only when it changed."""
        self.ended = False
        self._start: float | None = None
        self._setup_time: float | None = None
        self._last_batch: Batch | None = None
        self._epochs_done = 0
        self._epoch_seconds: list[float] = []

    def extend(self, events: Iterable[TrainingEvent]) -> None:
        for event in events:
            self.add(event)

    def add(self, event: TrainingEvent) -> None:
        if self._start is None:
            self._start = event.time
        self.version += 1
        if isinstance(event, Batch):
            self._add_batch(event)
        elif isinstance(event, Epoch):
            self._add_epoch(event)
        elif isinstance(event, Setup):
            self.setup, self._setup_time, self.ended = event, event.time, False
        elif event.TERMINAL:
            self.ended = True

    def get(self, name: str) -> Series | None:
        return self.series.get(name)

    def snapshot(self) -> dict[str, Series]:
        """Every series as it is now, for a background export while the run goes on."""
        return {name: series.snapshot() for name, series in self.series.items()}

    def _point(self, name: str, step: float, epoch: float, time: float, value: float) -> None:
        series = self.series.get(name)
        if series is None:
            series = self.series[name] = Series(name)
        assert self._start is not None
        series.append(step, epoch, time - self._start, value)

    def _note_losses(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.loss_names:
                self.loss_names.append(name)

    def _add_batch(self, event: Batch) -> None:
        if event.losses.keys() - set(self.loss_names):
            self._note_losses(event.losses)
        epoch_x = event.epoch - 1 + (event.batch / event.batches if event.batches else 0.0)
        for name, value in event.losses.items():
            self._point(BATCH + name, event.step, epoch_x, event.time, value)
        self._point(LR, event.step, epoch_x, event.time, event.lr)
        self._last_batch = event

    def _add_epoch(self, event: Epoch) -> None:
        last = self._last_batch
        if last is not None and last.epoch == event.epoch:
            step = float(last.step)
        else:
            step = float(event.epoch * (self.setup.batches_per_epoch if self.setup else 0))
        self._note_losses([*event.train_losses, *event.val_losses])
        for prefix, values in (
            (TRAIN, event.train_losses),
            (VAL, event.val_losses),
            (METRICS, event.metrics),
        ):
            for name, value in values.items():
                self._point(prefix + name, step, event.epoch, event.time, value)
        self._epochs_done = max(self._epochs_done, event.epoch)
        self._epoch_seconds.append(event.seconds)

    def progress(self) -> Progress:
        epochs = self.setup.epochs if self.setup else 0
        batch = self._last_batch
        epoch, done = max(batch.epoch if batch else 0, self._epochs_done), self._epochs_done
        in_epoch = batch is not None and batch.epoch > done
        return Progress(
            epoch=epoch,
            epochs=epochs,
            epochs_done=done,
            batch=batch.batch if batch and in_epoch else 0,
            batches=batch.batches if batch else (self.setup.batches_per_epoch if self.setup else 0),
            eta_s=None if self.ended else self._eta(epochs, done, batch if in_epoch else None),
        )

    def _eta(self, epochs: int, done: int, current: Batch | None) -> float | None:
        partial = current.batch / current.batches if current and current.batches else 0.0
        if self._epoch_seconds:
            recent = self._epoch_seconds[-_ETA_WINDOW:]
            per_epoch = sum(recent) / len(recent)
        elif current is not None and partial > 0 and self._setup_time is not None:
            per_epoch = (current.time - self._setup_time) / partial
        else:
            return None
        return max(0.0, (epochs - done - partial) * per_epoch)


def smooth(values: npt.ArrayLike, weight: float) -> FloatArray:
    """TensorBoard's smoothing: a debiased exponential moving average.

    ``weight`` 0 leaves values as they are, 0.99 averages over about a hundred
    points. The debiasing keeps the first points from being pulled towards 0.
    Non-finite values pass through unchanged and do not poison the average.
    Vectorized, so 100,000 points cost a few milliseconds (a slider drags smoothly).
    """
    return Smoother(weight).extend(values)


class Smoother:
    """The state of :func:`smooth` between calls, so that a growing curve is smoothed once.

    The average is causal: points already smoothed keep their value when more
    arrive, so a live curve costs only its new points at each redraw.
    """

    def __init__(self, weight: float) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"smoothing weight must be in [0, 1), not {weight}")
        self.weight = weight
        self._average = 0.0
        """The last average before debiasing: where the next point's average starts."""
        self._count = 0
        """Finite points averaged so far: the debiasing's exponent."""

    def extend(self, values: npt.ArrayLike) -> FloatArray:
        """The smoothed values of the points that follow those already seen."""
        data = np.asarray(values, dtype=np.float64)
        weight = self.weight
        if weight == 0.0 or not data.size:
            return data.copy()
        finite = np.isfinite(data)
        everywhere = bool(finite.all())
        points = data if everywhere else data[finite]
        if not points.size:
            return data.copy()
        average = _moving_average(points, weight, self._average)
        self._average = float(average[-1])
        # Debias: divide by 1 - w^n, which is 1 to float precision once w^n vanishes.
        head = math.ceil(-17 / math.log10(weight)) - self._count
        if head > 0:
            exponents = np.arange(self._count + 1, self._count + 1 + min(head, points.size))
            average[: exponents.size] /= 1 - weight ** exponents.astype(np.float64)
        self._count += points.size
        if everywhere:
            return average
        result = data.copy()
        result[finite] = average
        return result


def _moving_average(points: FloatArray, weight: float, initial: float) -> FloatArray:
    """y[i] = w y[i-1] + (1-w) x[i] from y[-1] = ``initial``, without a Python loop per point."""
    reach = math.ceil(-17 / math.log10(weight))  # w**reach is below float precision
    if reach <= 64:  # a short kernel: the exact sum, truncated where terms vanish
        kernel = weight ** np.arange(reach, dtype=np.float64)
        average = (1 - weight) * np.convolve(points, kernel)[: points.size]
        carried = min(points.size, reach)
        average[:carried] += initial * weight ** np.arange(1, carried + 1, dtype=np.float64)
        return average
    # In blocks, y = w^i (y0 w + (1-w) cumsum(x w^-k)); short enough that w^-k stays finite.
    block = min(4096, int(100 / -math.log10(weight)))
    powers = weight ** np.arange(block, dtype=np.float64)
    average = np.empty_like(points)
    previous = initial
    for start in range(0, points.size, block):
        chunk = points[start : start + block]
        scale = powers[: chunk.size]
        average[start : start + chunk.size] = scale * (
            previous * weight + (1 - weight) * np.cumsum(chunk / scale)
        )
        previous = float(average[start + chunk.size - 1])
    return average


def read_curves(folder: RunFolder) -> RunCurves:
    """The curves of a run from its events file (slow for long runs: not on a UI thread)."""
    curves = RunCurves(folder.run_id)
    curves.extend(record.event for record in EventLog(folder.events_file).read_new())
    return curves


def export_csv(path: Path, runs: Mapping[str, Mapping[str, Series]]) -> int:
    """Write every series of ``runs`` (run id -> its series) in long format; returns the rows.

    One row per point (``run, series, x_step, x_epoch, wall_s, value``) reads
    straight into pandas, R or a spreadsheet pivot, whatever the runs logged.
    """
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for run_id, series_of_run in runs.items():
            for name, series in series_of_run.items():
                columns = [series.x(axis).tolist() for axis in XAxis]
                values = series.values.tolist()
                writer.writerows(
                    (run_id, name, step, epoch, wall, value)
                    for step, epoch, wall, value in zip(*columns, values, strict=True)
                )
                rows += len(values)
    return rows
