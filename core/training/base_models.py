"""Base models from the store, as a launch names them.

``model:NAME`` or ``model:NAME@latest`` means whatever is newest when the run
is launched; the run's spec records the version's id instead, so that a
resume, a clone or a colleague reading the spec gets the same bytes, however
many versions are added afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from datayard.core.datasets.catalog import group_versions
from datayard.core.errors import AccessError, DatayardError, StorageError
from datayard.core.models.describe import parameters
from datayard.core.models.store import cached_weights
from datayard.core.models.version import ModelCatalog, ModelRef, ModelVersion
from datayard.core.store.bucket import Bucket
from datayard.core.training.mirror import artifact_key
from datayard.core.training.runs import MAP_KEY
from datayard.core.training.spec import MODEL_PREFIX, TrainSpec, base_run, stored_model


class BaseModelError(DatayardError):
    """The base model a spec names cannot be had; a run that meets it fails for "model"."""

    reason = "model"


def pinned(spec: TrainSpec, bucket: Bucket, owner: str) -> tuple[TrainSpec, ModelVersion | None]:
    """``spec`` with its store model named by id, and that version; unchanged for others."""
    ref = stored_model(spec.model, owner)
    if ref is None:
        return spec, None
    version = ModelCatalog(bucket).version(ref)
    return replace(spec, model=f"{MODEL_PREFIX}{version.ref}"), version


@dataclass(frozen=True)
class BaseModel:
    """A model version of the store offered as a base to fine-tune."""

    version: ModelVersion
    number: int

    @property
    def model(self) -> str:
        """The spec's model: the version by id (see :func:`pinned`)."""
        return f"{MODEL_PREFIX}{self.version.ref}"

    @property
    def name(self) -> str:
        return f"{self.version.owner}/{self.version.name} v{self.number}"

    def label(self) -> str:
        """How a list of base models shows it: task, classes, size and score."""
        facts = self.version.facts
        score = self.version.lineage.metrics.get(MAP_KEY)
        return ", ".join(
            filter(
                None,
                (
                    f"{self.name}: {facts.task}",
                    f"{len(facts.class_names)} class{'' if len(facts.class_names) == 1 else 'es'}",
                    facts.architecture,
                    f"{parameters(facts.parameters)} parameters",
                    f"mAP50-95 {score:.3f}" if score is not None else "",
                ),
            )
        )

    def head_note(self, class_names: Sequence[str]) -> str:
        """What fine-tuning does with the base model's classes, when they are not the set's."""
        own = self.version.facts.class_names
        if tuple(own) == tuple(class_names):
            return ""
        return (
            f"its {len(own)} classes are not this set's {len(class_names)}: the model keeps "
            "what it learned and gets a new last layer (head) for this set's classes"
        )


def store_models(bucket: Bucket) -> list[BaseModel]:
    """The newest version of each model in the store, smallest first (on a small set, a
    small model over-fits least and trains fastest)."""
    offered = [
        BaseModel(history.latest, history.number(history.latest))
        for history in group_versions(ModelCatalog(bucket).stored_versions())
        if history.latest is not None
    ]
    return sorted(offered, key=lambda m: (m.version.facts.parameters, m.name))


def preferred(
    models: Sequence[BaseModel], task: str, class_names: Sequence[str]
) -> BaseModel | None:
    """The base a fine-tuning of a ``task`` set with ``class_names`` starts from: a model
    that knows these very classes (an earlier promotion of this set), else the smallest
    model of the task; ``None`` when the store has none of the task."""
    of_task = [m for m in models if m.version.facts.task == task]
    same = [m for m in of_task if tuple(m.version.facts.class_names) == tuple(class_names)]
    candidates = same or of_task
    return candidates[0] if candidates else None


def resolve_model(model: str, bucket: Bucket, cache: Path, owner: str) -> str:
    """What Ultralytics loads for a spec's ``model``: a local path or shipped YAML name as
    given; an earlier run's best weights and a stored model's, fetched from the store into
    ``cache/models`` (a stored model's proven by their sha256, cached by content, so a
    machine downloads the same bytes once).

    The model may come from another machine's record, so the run id is checked here too:
    it names the cached file (``run:/home/x`` would name a file outside the cache).
    """
    stored = stored_model(model, owner)
    if stored is not None:
        return str(_stored_weights(stored, bucket, cache))
    run_id = base_run(model)
    if run_id is None:
        return str(Path(model).expanduser()) if model.endswith(".pt") else model
    target = cache / "models" / f"{run_id}-best.pt"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        key = artifact_key(run_id, "train/weights/best.pt")
        try:
            bucket.get_file(key, target)
        except AccessError:
            raise
        except StorageError as error:
            raise StorageError(
                f"run {run_id} has no best weights in the store ({key}): {error}"
            ) from error
    return str(target)


def _stored_weights(ref: ModelRef, bucket: Bucket, cache: Path) -> Path:
    try:
        version = ModelCatalog(bucket).version(ref)
        return cached_weights(bucket, version, cache / "models")
    except AccessError:
        raise
    except DatayardError as error:
        raise BaseModelError(f"the base model {ref} cannot be used: {error}") from error
