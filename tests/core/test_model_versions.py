"""Model versions as the store holds them: written by anyone with write access, so every
field is checked where the version is read, and a problem names the object and field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from datayard.core.errors import InvalidStoreObjectError
from datayard.core.models.version import Lineage, ModelVersion, WeightsFacts
from datayard.core.store.layout import MODELS, version_key

VERSION = ModelVersion(
    id="20261207T090000Z-1a2b3c4d",
    owner="ada",
    name="street",
    created="2026-12-07T09:00:00+00:00",
    added_by="ada",
    sha256="ab" * 32,
    size=5_411_738,
    facts=WeightsFacts("detect", ("car", "bike"), "yolo11n", 2_590_230, 640),
    source="run:20261207-090000-abcdef",
    lineage=Lineage(
        run="20261207-090000-abcdef",
        dataset="ada/street@20261206T080000Z-00aa11bb",
        spec={"epochs": 50},
        metrics={"mAP50": 0.5, "mAP50-95": 0.31},
        classes={"car": {"Instances": 12, "mAP50": 0.6}, "bike": {"Instances": 3, "mAP50": 0.4}},
        exports=({"label": "ONNX INT8", "bytes": 3_000_000},),
    ),
    parent="20261206T090000Z-0a0b0c0d",
    message="night images",
)
KEY = version_key("ada", "street", VERSION.id, MODELS)


def stored(**changes: Any) -> bytes:
    data = json.loads(VERSION.to_json())
    for name, value in changes.items():
        target = data
        *path, last = name.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    return json.dumps(data).encode()


def test_a_version_reads_back_as_written() -> None:
    assert ModelVersion.from_json(VERSION.to_json(), KEY) == VERSION


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"weights.sha256": "../../x"}, "weights.sha256", "is not a sha256 digest"),
        ({"weights.size": -1}, "weights.size", ""),
        ({"task": "dance"}, "task", "is not a task"),
        ({"owner": "../bob"}, "owner", "is not an owner name"),
        ({"parent": "yesterday"}, "parent", "is not a version id"),
        ({"created": "soon"}, "created", "is not an ISO 8601 time"),
        ({"class_names": "car"}, "class_names", ""),
        ({"lineage.metrics": {"mAP50": "high"}}, "lineage.metrics", "is not of type"),
        ({"lineage.exports": [1]}, "lineage.exports", "is not of type"),
        ({"format": 2}, "format", "update Datayard"),
        ({"message": "x" * 501}, "message", "at most 500"),
    ],
)
def test_a_hostile_field_is_refused_naming_the_object_and_field(
    changes: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InvalidStoreObjectError) as refused:
        ModelVersion.from_json(stored(**changes), KEY)
    assert str(refused.value).startswith(f"{KEY}: {field}") and problem in str(refused.value)


def test_non_finite_metrics_are_refused() -> None:
    raw = VERSION.to_json().replace(b'"mAP50": 0.5', b'"mAP50": NaN')
    with pytest.raises(InvalidStoreObjectError, match=r"lineage\.metrics holds a number"):
        ModelVersion.from_json(raw, KEY)
    raw = VERSION.to_json().replace(b'"mAP50": 0.4', b'"mAP50": Infinity')
    with pytest.raises(InvalidStoreObjectError, match=r"lineage\.classes\.bike holds a number"):
        ModelVersion.from_json(raw, KEY)


def test_a_version_stored_under_another_models_key_is_refused() -> None:
    elsewhere = version_key("bob", "street", VERSION.id, MODELS)
    with pytest.raises(InvalidStoreObjectError, match=r"belongs at models/ada/street/"):
        ModelVersion.from_json(VERSION.to_json(), elsewhere)
