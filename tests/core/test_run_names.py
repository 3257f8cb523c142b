"""Runs' names: made at launch from the dataset and the base model, numbered per machine,
changed by the user, and a way to name a run wherever its id is taken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datayard.core.errors import InvalidStoreObjectError, UsageError
from datayard.core.training.run_names import next_name
from datayard.core.training.runs import RunRecord, RunRegistry
from datayard.core.training.spec import TrainSpec

STREET = "ada/street@20261207T090000Z-1a2b3c4d"


def test_names_say_the_dataset_and_model_and_count_up_per_machine(tmp_path: Path) -> None:
    registry = RunRegistry(tmp_path / "runs")
    first = registry.create(TrainSpec(STREET), STREET, "local")
    second = registry.create(TrainSpec(STREET), STREET, "local")
    small = registry.create(TrainSpec(STREET, model="yolo11s.yaml"), STREET, "local")
    assert [f.record().name for f in (first, second, small)] == [
        "street-yolo11n-1",
        "street-yolo11n-2",
        "street-yolo11s-1",
    ]
    stored = TrainSpec(STREET, model="model:ada/coco-n@20261207T090000Z-00aa11bb")
    assert next_name(stored, STREET, []) == "street-coco-n-1"
    assert next_name(TrainSpec(STREET, model="/srv/w/My Base.pt"), STREET, []) == "street-My-Base-1"
    run = TrainSpec(STREET, model="run:20261207-090000-abcdef")
    assert next_name(run, STREET, ["street-finetuned-7", "x-9"]) == "street-finetuned-8"


def test_a_renamed_run_is_found_by_its_name_and_names_stay_unique(tmp_path: Path) -> None:
    registry = RunRegistry(tmp_path / "runs")
    folder = registry.create(TrainSpec(STREET), STREET, "local")
    other = registry.create(TrainSpec(STREET), STREET, "local")
    record = registry.rename(folder, "night-images")
    assert record.name == "night-images" == folder.record().name
    assert registry.get("night-images").run_id == folder.run_id
    assert registry.get(other.record().name).run_id == other.run_id
    with pytest.raises(UsageError, match="another run here is named 'night-images'"):
        registry.rename(other, "night-images")
    with pytest.raises(UsageError, match="run name 'a b' is not valid"):
        registry.rename(other, "a b")
    assert registry.next_name(TrainSpec(STREET), STREET) == "street-yolo11n-3"


def test_records_of_earlier_versions_have_no_name_and_hostile_names_are_refused() -> None:
    record = RunRecord(
        run_id="20261207-090000-abcdef",
        spec=TrainSpec(STREET),
        dataset=STREET,
        backend="local",
        launched_at="2026-12-07T09:00:00+00:00",
    )
    body = json.loads(record.to_json())
    del body["name"]
    earlier = RunRecord.from_json(json.dumps(body), "run.json")
    assert earlier.name == "" and earlier.label == earlier.run_id
    body["name"] = "\x1b[31mred"
    with pytest.raises(InvalidStoreObjectError, match=r"spec\.json: name is not a run name"):
        RunRecord.from_json(json.dumps(body), "spec.json")
