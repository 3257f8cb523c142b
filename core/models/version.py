"""A model version: weights stored as a blob, what they are, and where they came from.

Models are versioned like datasets (linear history, numbers v1, v2, ...,
``NAME@latest``), so that a team fine-tunes from the same bytes everywhere and
can tell which run, on which dataset version, made them. The weights are one
content-addressed blob; the version object, written after the blob exists and
never changed, is all that ties a name to them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from datayard.core import schema
from datayard.core.datasets.catalog import VersionCatalog, VersionRef
from datayard.core.datasets.manifest import MAX_SIZE, stored_identity
from datayard.core.errors import InvalidStoreObjectError, UsageError, quoted
from datayard.core.store.layout import MODELS, version_key

FORMAT = 1
TASKS = ("detect", "segment", "classify", "pose", "obb")
"""Ultralytics' tasks: a base model fine-tunes only a dataset of its own task."""
MAX_CLASSES = 100_000


class ModelRef(VersionRef):
    """A model version as a user names it: ``[OWNER/]NAME[@VERSION]``."""

    KIND = "model"

    @classmethod
    def to_add_to(cls, text: str, default_owner: str) -> ModelRef:
        """The model a new version goes to, named without a version."""
        ref = cls.parse(text, default_owner)
        if ref.version:
            raise UsageError(f"name the model without a version ({ref.owner}/{ref.name})")
        return ref


@dataclass(frozen=True)
class WeightsFacts:
    """What a weights file is, as Ultralytics reads it: recorded when it is added, so that
    choosing a base model needs no loading."""

    task: str
    class_names: tuple[str, ...]
    architecture: str
    """The model's configuration (``yolo11n``), or "" when the file does not say."""
    parameters: int
    imgsz: int
    """The image size it was trained at (0: unknown)."""


@dataclass(frozen=True)
class Lineage:
    """Where a promoted run's weights came from; empty for a file that was added."""

    run: str = ""
    dataset: str = ""
    """The dataset version it was trained on, by full id (``owner/name@id``)."""
    spec: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    """The final validation's metrics (``precision``, ``recall``, ``mAP50``, ``mAP50-95``)."""
    classes: dict[str, dict[str, float]] = field(default_factory=dict)
    """The same per class name (see :class:`~datayard.core.training.protocol.Final`)."""
    exports: tuple[dict[str, Any], ...] = ()
    """The smaller models made from the run: label, file name, size, metrics."""


@dataclass(frozen=True)
class ModelVersion:
    id: str
    owner: str
    name: str
    created: str
    added_by: str
    sha256: str
    size: int
    facts: WeightsFacts
    source: str
    """Where the weights came from: the file added, or ``run:<run-id>``."""
    lineage: Lineage = Lineage()
    parent: str | None = None
    message: str = ""

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.name}@{self.id}"

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "format": FORMAT,
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "created": self.created,
            "parent": self.parent,
            "added_by": self.added_by,
            "weights": {"sha256": self.sha256, "size": self.size},
            "task": self.facts.task,
            "class_names": list(self.facts.class_names),
            "architecture": self.facts.architecture,
            "parameters": self.facts.parameters,
            "imgsz": self.facts.imgsz,
            "source": self.source,
        }
        if self.message:
            data["message"] = self.message
        if self.lineage != Lineage():
            data["lineage"] = {
                "run": self.lineage.run,
                "dataset": self.lineage.dataset,
                "spec": self.lineage.spec,
                "metrics": self.lineage.metrics,
                "classes": self.lineage.classes,
                "exports": list(self.lineage.exports),
            }
        return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, key: str) -> ModelVersion:
        """The model version stored at ``key``, every field checked: anyone with write
        access to the store may have written it, and its digest names a blob to read."""
        try:
            version = _version(schema.json_object(schema.load_json(raw)))
        except schema.SchemaError as problem:
            raise InvalidStoreObjectError(key, problem.field, problem.problem) from None
        stored = version_key(version.owner, version.name, version.id, MODELS)
        if key != stored:
            raise InvalidStoreObjectError(
                key, "", f"holds {version.ref}, which belongs at {stored}"
            )
        return version


class ModelCatalog(VersionCatalog[ModelVersion]):
    """The models' versions in one bucket."""

    ROOT = MODELS
    KIND = "model"
    PUBLISH_SCOPE = "publish-model/"

    def parse(self, raw: bytes, key: str) -> ModelVersion:
        return ModelVersion.from_json(raw, key)


def new_model_id(sha256: str, now: datetime | None = None) -> str:
    """Sortable by time, like dataset versions' ids; the digest keeps two adds apart."""
    moment = now or datetime.now(UTC)
    digest = hashlib.sha256(f"{sha256}\0{moment.timestamp()}".encode()).hexdigest()
    return f"{moment:%Y%m%dT%H%M%SZ}-{digest[:8]}"


def _version(data: dict[str, Any]) -> ModelVersion:
    schema.check_format(data.get("format"), FORMAT, "a model format")
    weights = schema.json_object(schema.member(data, "weights"), "weights")
    try:
        sha256 = schema.text(weights, "sha256")
        if schema.first_non_digest([sha256]):
            raise schema.SchemaError("sha256", f"is not a sha256 digest ({quoted(sha256)})")
        size = schema.integer(weights, "size", 1, MAX_SIZE, "a size")
    except schema.SchemaError as problem:
        raise problem.within("weights") from None
    task = schema.text(data, "task")
    if task not in TASKS:
        raise schema.SchemaError("task", f"is not a task ({quoted(task)})")
    class_names = schema.texts(data, "class_names")
    if len(class_names) > MAX_CLASSES:
        raise schema.SchemaError("class_names", f"has {len(class_names)} names")
    return ModelVersion(
        **stored_identity(data, "a model name"),
        added_by=schema.text(data, "added_by"),
        sha256=sha256,
        size=size,
        facts=WeightsFacts(
            task=task,
            class_names=class_names,
            architecture=schema.text(data, "architecture"),
            parameters=schema.integer(data, "parameters", 0, 10**13, "a parameter count"),
            imgsz=schema.integer(data, "imgsz", 0, 100_000, "an image size"),
        ),
        source=schema.text(data, "source"),
        lineage=_lineage(data.get("lineage")),
    )


def _lineage(value: object) -> Lineage:
    if value is None:
        return Lineage()
    try:
        fields = schema.checked_fields(Lineage, schema.json_object(value))
    except schema.SchemaError as problem:
        raise problem.within("lineage") from None
    for name, numbers in (
        ("metrics", fields.get("metrics", {})),
        *((f"classes.{c}", row) for c, row in fields.get("classes", {}).items()),
    ):
        if not all(math.isfinite(number) for number in numbers.values()):
            raise schema.SchemaError(f"lineage.{name}", "holds a number that is not finite")
    return Lineage(**fields)
