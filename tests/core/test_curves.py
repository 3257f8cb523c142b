"""A run's events become the curves a user reads: right points, axes, smoothing, ETA, CSV."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from datayard.core.training.curves import (
    BATCH,
    CSV_COLUMNS,
    LR,
    METRICS,
    TRAIN,
    VAL,
    RunCurves,
    Series,
    XAxis,
    export_csv,
    read_curves,
    smooth,
)
from datayard.core.training.protocol import (
    Batch,
    Checkpoint,
    Epoch,
    Final,
    Finished,
    Preparing,
    Setup,
    TrainingEvent,
    encode,
)
from datayard.core.training.runs import RunFolder, RunRegistry
from datayard.core.training.spec import TrainSpec

LOSSES = ("box_loss", "cls_loss", "dfl_loss")
START = 1_700_000_000.0
BATCH_S = 0.5
EPOCH_OVERHEAD_S = 3.0


def losses_at(step: int, seed: int = 0) -> dict[str, float]:
    return {
        "box_loss": 3.0 / (1 + 0.1 * step) + 0.1 * seed + 0.05 * (step % 3),
        "cls_loss": 2.0 / (1 + 0.05 * step) + 0.1 * seed,
        "dfl_loss": 1.5 - 0.001 * step,
    }


def metrics_at(epoch: int, seed: int = 0) -> dict[str, float]:
    return {
        "precision": 0.2 + 0.02 * epoch,
        "recall": 0.1 + 0.02 * epoch,
        "mAP50": 0.15 + 0.01 * epoch + 0.01 * seed,
        "mAP50-95": 0.05 + 0.01 * epoch + 0.01 * seed,
    }


def training_events(
    epochs: int = 3, batches: int = 10, seed: int = 0, *, end: bool = True
) -> Iterator[TrainingEvent]:
    """A realistic stream: preparing, setup, batches and epochs with checkpoints, final, finished.

    Batches take BATCH_S each and every epoch ends EPOCH_OVERHEAD_S later (validation).
    """
    now = START
    yield Preparing(phase="pulling the dataset", done=0, total=10, time=now)
    now += 2
    yield Setup(
        run_id="r",
        dataset="me/set@v",
        model="yolo11n.yaml",
        task="detect",
        device="cpu",
        epochs=epochs,
        batches_per_epoch=batches,
        batch_size=4,
        image_size=64,
        train_images=4 * batches,
        val_images=8,
        class_names=("cat", "dog"),
        time=now,
    )
    for epoch in range(1, epochs + 1):
        epoch_start = now
        for batch in range(1, batches + 1):
            step = (epoch - 1) * batches + batch
            now += BATCH_S
            lr = 0.01 * (1 - step / (epochs * batches + 1))
            yield Batch(
                epoch=epoch,
                batch=batch,
                batches=batches,
                step=step,
                losses=losses_at(step, seed),
                lr=lr,
                time=now,
            )
        now += EPOCH_OVERHEAD_S
        yield Epoch(
            epoch=epoch,
            epochs=epochs,
            train_losses=losses_at(epoch * batches, seed),
            val_losses={k: v + 0.2 for k, v in losses_at(epoch * batches, seed).items()},
            metrics=metrics_at(epoch, seed),
            fitness=None,
            lr=lr,
            seconds=now - epoch_start,
            time=now,
        )
        yield Checkpoint(epoch=epoch, path="train/weights/last.pt", best=True, size=10, time=now)
    if end:
        yield Final(best_epoch=epochs, metrics=metrics_at(epochs, seed), time=now + 1)
        yield Finished(epochs_done=epochs, best_epoch=epochs, weights=(), time=now + 2)


def write_run(
    registry: RunRegistry,
    epochs: int = 3,
    batches: int = 10,
    seed: int = 0,
    *,
    end: bool = True,
) -> RunFolder:
    """A run folder as a worker leaves it: run.json plus its events.jsonl."""
    spec = TrainSpec(dataset="me/set@v", epochs=epochs)
    folder = registry.create(spec, "me/set@v", "local")
    append_events(folder, training_events(epochs, batches, seed, end=end))
    return folder


def append_events(folder: RunFolder, events: Iterator[TrainingEvent] | list[TrainingEvent]) -> None:
    seq = folder.next_seq()
    with folder.events_file.open("a", encoding="utf-8") as stream:
        for offset, event in enumerate(events):
            stream.write(encode(event, seq + offset) + "\n")


def test_batches_become_loss_and_lr_curves_on_three_axes() -> None:
    curves = RunCurves("r")
    curves.extend(training_events(epochs=3, batches=10))

    assert curves.loss_names == list(LOSSES)
    box = curves.get(BATCH + "box_loss")
    assert box is not None and len(box) == 30
    assert box.x(XAxis.STEP).tolist() == list(range(1, 31))
    assert box.x(XAxis.EPOCH)[:3].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert box.x(XAxis.EPOCH)[-1] == pytest.approx(3.0)
    # Wall time counts from the first event (preparing), 2 s before setup.
    assert box.x(XAxis.WALL)[0] == pytest.approx(2 + BATCH_S)
    assert box.values[-1] == pytest.approx(losses_at(30)["box_loss"])
    lr = curves.get(LR)
    assert lr is not None and len(lr) == 30 and lr.values[0] > lr.values[-1]


def test_epochs_become_train_val_and_metric_curves() -> None:
    curves = RunCurves()
    curves.extend(training_events(epochs=4, batches=5))

    for prefix in (TRAIN, VAL):
        series = curves.get(prefix + "cls_loss")
        assert series is not None and series.x(XAxis.EPOCH).tolist() == [1, 2, 3, 4]
    val = curves.get(VAL + "box_loss")
    assert val is not None
    assert val.values[-1] == pytest.approx(losses_at(20)["box_loss"] + 0.2)
    assert val.x(XAxis.STEP).tolist() == [5, 10, 15, 20]  # the step of the epoch's last batch
    for metric in ("precision", "recall", "mAP50", "mAP50-95"):
        series = curves.get(METRICS + metric)
        assert series is not None
        assert series.values.tolist() == pytest.approx([metrics_at(e)[metric] for e in range(1, 5)])


def test_min_max_last_ignore_nan() -> None:
    curves = RunCurves()
    events = list(training_events(epochs=1, batches=4))
    curves.extend(events)
    curves.add(Batch(epoch=2, batch=1, batches=4, step=5, losses={"box_loss": math.nan}, lr=0.0))
    stats = curves.get(BATCH + "box_loss").stats()  # type: ignore[union-attr]
    values = [losses_at(s)["box_loss"] for s in range(1, 5)]
    assert stats is not None
    assert (stats.count, stats.min, stats.max) == (5, min(values), max(values))
    assert math.isnan(stats.last)


def test_smoothing_matches_tensorboards_debiased_average() -> None:
    def reference(values: list[float], weight: float) -> list[float]:
        last, count, out = 0.0, 0, []
        for value in values:
            if not math.isfinite(value):
                out.append(value)
                continue
            last = last * weight + (1 - weight) * value
            count += 1
            out.append(last / (1 - weight**count))
        return out

    rng = np.random.default_rng(3)
    values = rng.normal(1.0, 0.3, 3000)
    values[[10, 2000]] = [np.nan, np.inf]
    for weight in (0.0, 0.05, 0.3, 0.6, 0.9, 0.99):
        got = smooth(values, weight)
        expected = np.array(reference(values.tolist(), weight))
        assert np.allclose(got, expected, equal_nan=True, rtol=1e-9), weight
    assert np.std(smooth(values[:1000], 0.9)[100:]) < np.std(values[100:1000]) / 2
    assert smooth([], 0.5).size == 0
    with pytest.raises(ValueError):
        smooth(values, 1.0)


def test_a_growing_series_is_smoothed_and_summed_up_as_if_all_at_once() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(1.0, 0.3, 5000)
    values[[7, 1200, 4999]] = [np.nan, np.inf, np.nan]
    for weight in (0.3, 0.9, 0.99):  # a short kernel, and the blocked sums
        series = Series("batch/box_loss")
        for start, end in ((0, 3), (3, 40), (40, 41), (41, 2500), (2500, 5000)):
            for index in range(start, end):
                series.append(index, index / 100, index, float(values[index]))
            expected = smooth(values[:end], weight)
            assert np.allclose(series.smoothed(weight), expected, equal_nan=True, rtol=1e-9)
            finite = values[:end][np.isfinite(values[:end])]
            stats = series.stats()
            assert stats is not None and stats.count == end
            assert (stats.min, stats.max) == (finite.min(), finite.max())
    series.smoothed(0.5)  # another weight starts over
    assert np.allclose(series.smoothed(0.5), smooth(values, 0.5), equal_nan=True, rtol=1e-9)


def test_progress_and_eta_from_epoch_durations() -> None:
    events = list(training_events(epochs=4, batches=10, end=False))
    # Stop after epoch 2 and 5 batches of epoch 3.
    cut = next(i for i, e in enumerate(events) if isinstance(e, Batch) and e.step == 25)
    curves = RunCurves()
    curves.extend(events[: cut + 1])

    progress = curves.progress()
    assert (progress.epoch, progress.epochs, progress.epochs_done) == (3, 4, 2)
    assert (progress.batch, progress.batches) == (5, 10)
    assert progress.fraction == pytest.approx(2.5 / 4)
    epoch_s = 10 * BATCH_S + EPOCH_OVERHEAD_S
    assert progress.eta_s == pytest.approx(1.5 * epoch_s)

    curves.extend(events[cut + 1 :])
    curves.add(Finished(epochs_done=4, best_epoch=4, weights=()))
    done = curves.progress()
    assert done.fraction == 1.0 and done.eta_s is None


def test_eta_in_the_first_epoch_comes_from_the_batch_rate() -> None:
    events = list(training_events(epochs=2, batches=10, end=False))
    curves = RunCurves()
    curves.extend(events[:7])  # preparing, setup, five batches
    progress = curves.progress()
    assert progress.batch == 5
    assert progress.eta_s == pytest.approx(1.5 * 10 * BATCH_S)


def test_a_hundred_thousand_batches_fold_quickly_and_keep_views_valid() -> None:
    curves = RunCurves()
    curves.extend(training_events(epochs=1, batches=10))
    early = curves.get(LR).values  # type: ignore[union-attr]
    batches = [
        Batch(epoch=2, batch=i, batches=100_000, step=10 + i, losses=losses_at(i), lr=0.001, time=i)
        for i in range(1, 100_001)
    ]
    curves.extend(batches)
    box = curves.get(BATCH + "box_loss")
    assert box is not None and len(box) == 100_010
    assert box.values[-1] == pytest.approx(losses_at(100_000)["box_loss"])
    assert early.size == 10 and not early.flags.writeable  # a view handed out never changes


def test_csv_export_of_two_runs_reads_back(tmp_path: Path) -> None:
    first, second = RunCurves("a"), RunCurves("b")
    first.extend(training_events(epochs=2, batches=3))
    second.extend(training_events(epochs=1, batches=3, seed=1))
    path = tmp_path / "curves.csv"

    rows = export_csv(path, {"a": first.snapshot(), "b": second.snapshot()})

    with path.open(newline="", encoding="utf-8") as stream:
        table = list(csv.reader(stream))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) == rows + 1
    expected = sum(len(s) for c in (first, second) for s in c.series.values())
    assert rows == expected
    last_box_b = [r for r in table if r[0] == "b" and r[1] == BATCH + "box_loss"][-1]
    assert float(last_box_b[2]) == 3 and float(last_box_b[3]) == pytest.approx(1.0)
    assert float(last_box_b[5]) == pytest.approx(losses_at(3, seed=1)["box_loss"])
    assert {r[1] for r in table[1:] if r[0] == "a"} >= {METRICS + "mAP50-95", VAL + "dfl_loss", LR}


def test_curves_read_from_a_run_folder(tmp_path: Path) -> None:
    folder = write_run(RunRegistry(tmp_path / "runs"), epochs=2, batches=6)
    curves = read_curves(folder)
    assert curves.run_id == folder.run_id and curves.ended
    assert len(curves.get(BATCH + "dfl_loss")) == 12  # type: ignore[arg-type]
