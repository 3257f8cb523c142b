"""Base models from the store, as a launch names them.

``model:NAME`` or ``model:NAME@latest`` means whatever is newest when the run
is launched; the run's spec records the version's id instead, so that a
resume, a clone or a colleague reading the spec gets the same bytes, however
many versions are added afterwards.
"""

from __future__ import annotations

from dataclasses import replace

from datayard.core.models.version import ModelCatalog, ModelVersion
from datayard.core.store.bucket import Bucket
from datayard.core.training.spec import MODEL_PREFIX, TrainSpec, stored_model


def pinned(spec: TrainSpec, bucket: Bucket, owner: str) -> tuple[TrainSpec, ModelVersion | None]:
    """``spec`` with its store model named by id, and that version; unchanged for others."""
    ref = stored_model(spec.model, owner)
    if ref is None:
        return spec, None
    version = ModelCatalog(bucket).version(ref)
    return replace(spec, model=f"{MODEL_PREFIX}{version.ref}"), version
