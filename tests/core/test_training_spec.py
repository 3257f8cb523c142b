"""Training specs refuse bad values by field; the event protocol round-trips and is versioned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datayard.core.training.protocol import (
    VERSION,
    Batch,
    Epoch,
    Failed,
    Paused,
    ProtocolError,
    Setup,
    decode,
    encode,
)
from datayard.core.training.runs import RunStatus, summarize
from datayard.core.training.spec import (
    SpecError,
    TrainSpec,
    parse_value,
    suggest,
    ultralytics_arguments,
)


def test_a_default_spec_is_valid_and_survives_json() -> None:
    spec = TrainSpec(dataset="me/cats@20260101T000000Z-0123abcd", extra={"mosaic": 0.5})
    assert spec.validated() is spec
    assert TrainSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("epochs", 0, "from 1"),
        ("batch", -1, "from 1"),
        ("imgsz", 100, "multiple of 32"),
        ("lr0", 0.0, "greater than 0"),
        ("lr0", 5.0, "at most 1"),
        ("optimizer", "Adadelta", "one of"),
        ("device", "gpu please", "GPU index"),
        ("task", "detection", "one of"),
        ("model", "yolo11n.pt", "never downloaded"),
        ("model", "resnet", "architecture file"),
        ("model", "run:", "names an earlier run"),
        ("model", "run:../../home/ada/x", "names an earlier run"),
        ("model", "run:/home/ada/x", "names an earlier run"),
        ("store_wait", -1, "from 0 (do not wait)"),
        ("store_wait", 8 * 24 * 3600, "a week"),
        ("store_wait", 1.5, "whole number of seconds"),
    ],
)
def test_each_bad_value_is_named_with_its_reason(field: str, value: object, reason: str) -> None:
    spec = TrainSpec(dataset="me/cats").with_changes(**{field: value})
    with pytest.raises(SpecError) as raised:
        spec.validated()
    assert field in raised.value.problems
    assert reason in raised.value.problems[field]


def test_advanced_arguments_are_checked_against_the_installed_ultralytics() -> None:
    known = ultralytics_arguments()
    assert "mosaic" in known and "float" in known["mosaic"].kinds
    problems = TrainSpec(
        dataset="me/cats",
        extra={"mosaic": "lots", "no_such_argument": 1, "data": "x.yaml", "cos_lr": True},
    ).problems()
    assert "expects float" in problems["extra.mosaic"]
    assert "not an Ultralytics" in problems["extra.no_such_argument"]
    assert "set by Datayard" in problems["extra.data"]
    assert "extra.cos_lr" not in problems


def test_advanced_values_are_typed_and_lists_are_accepted() -> None:
    assert parse_value(" 0.5 ") == 0.5 and parse_value("True") is True and parse_value("") is None
    assert parse_value("[0, 1, 23.cv2]") == [0, 1, "23.cv2"]
    assert parse_value("[]") == []
    extra = {"freeze": parse_value("[0, 1]"), "mixup": parse_value("[0,,1]")}
    problems = TrainSpec(dataset="me/cats", extra=extra).problems()
    assert "extra.freeze" not in problems
    assert "expects float" in problems["extra.mixup"]


def test_a_saved_spec_with_an_unknown_field_is_refused() -> None:
    text = json.dumps({"dataset": "me/cats", "epocs": 3})
    with pytest.raises(SpecError, match="epocs"):
        TrainSpec.from_json(text)


def test_local_weights_must_exist(tmp_path: Path) -> None:
    weights = tmp_path / "base.pt"
    assert "model" in TrainSpec(dataset="me/cats", model=str(weights)).problems()
    weights.write_bytes(b"x")
    assert "model" not in TrainSpec(dataset="me/cats", model=str(weights)).problems()


def test_suggestions_follow_dataset_size_and_device() -> None:
    small_cpu, large_gpu = suggest(120, gpu=False), suggest(20_000, gpu=True)
    assert small_cpu.epochs > large_gpu.epochs
    assert small_cpu.batch < large_gpu.batch and small_cpu.imgsz < large_gpu.imgsz
    assert "CPU" in small_cpu.why


def test_fine_tuning_suggests_fewer_epochs_a_short_warm_up_and_frozen_layers_on_tiny_sets() -> None:
    scratch, tiny, small = (
        suggest(42, gpu=False),
        suggest(42, gpu=False, base="me/coco-n v1"),
        suggest(400, gpu=False, base="me/coco-n v1"),
    )
    assert tiny.epochs < scratch.epochs and scratch.extra == {}
    assert tiny.extra == {"warmup_epochs": 1, "freeze": 10}
    assert small.extra == {"warmup_epochs": 1}
    assert "fine-tune me/coco-n v1, 50 epochs" in tiny.why


def test_events_round_trip_and_unknown_types_are_skipped() -> None:
    batch = Batch(epoch=1, batch=2, batches=4, step=2, losses={"box_loss": 1.5}, lr=0.01)
    record = decode(encode(batch, 7))
    assert record is not None and record.seq == 7 and record.event == batch
    newer = json.dumps({"v": VERSION, "seq": 8, "type": "gpu-temperature", "celsius": 71})
    assert decode(newer) is None
    with_extra_field = json.loads(encode(batch, 9)) | {"grad_norm": 3.2}
    again = decode(json.dumps(with_extra_field))
    assert again is not None and again.event == batch


def test_another_protocol_version_is_refused_with_advice() -> None:
    line = json.dumps({"v": VERSION + 1, "seq": 0, "type": "batch"})
    with pytest.raises(ProtocolError, match="same Datayard version"):
        decode(line)


def test_the_summary_follows_the_last_terminal_event() -> None:
    setup = Setup(
        run_id="r",
        dataset="me/cats@v",
        model="yolo11n.yaml",
        task="detect",
        device="cpu",
        epochs=3,
        batches_per_epoch=2,
        batch_size=4,
        image_size=64,
        train_images=8,
        val_images=4,
        class_names=("cat",),
    )

    def epoch(n: int, value: float) -> Epoch:
        return Epoch(
            epoch=n,
            epochs=3,
            train_losses={},
            val_losses={},
            metrics={"mAP50-95": value},
            fitness=value,
            lr=0.01,
            seconds=1.0,
        )

    paused = summarize([setup, epoch(1, 0.2), Paused(epochs_done=1, resumable=True)], 3)
    assert paused.status is RunStatus.PAUSED and paused.best_map == 0.2
    assert "after epoch 1" in paused.message
    resumed = summarize([setup, epoch(1, 0.2), Paused(epochs_done=1, resumable=True), setup], 3)
    assert resumed.status is RunStatus.RUNNING
    failed = summarize([setup, epoch(1, 0.4), epoch(2, 0.3), Failed(reason="x", message="boom")], 3)
    assert failed.status is RunStatus.FAILED and failed.message == "boom"
    assert (failed.best_map, failed.best_epoch, failed.epochs_done) == (0.4, 1, 2)
