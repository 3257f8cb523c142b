"""Where things live in the bucket.

The layout is content-addressed (one object per distinct file content), so the
same image pushed by two people is stored once:

    blobs/sha256/<h[:2]>/<h>
    blobs/generation                              moved by every gc that deletes
    datasets/<owner>/<name>/versions/<id>.json    immutable manifests
    datasets/<owner>/<name>/latest                id of the newest version
    models/<owner>/<name>/versions/<id>.json      model versions: weights (a blob) + lineage
    models/<owner>/<name>/latest                  id of the newest model version
    pushes/<push-id>.json                         blobs of a push in progress
    locks/<scope>/<mode>-<id>.json                who works on the store (see locks.py)
    quarantine/<sha256>.<etag>                    blobs found damaged, set aside until gc
    archive/<rule>/reports/<time>-<id>.json       what each pass of an archive rule did
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from datayard.core.errors import InvalidStoreObjectError, quoted
from datayard.core.store.bucket import Bucket

BLOBS = "blobs/sha256/"
DATASETS = "datasets/"
MODELS = "models/"
"""Model versions sit beside datasets, versioned alike; their weights are blobs like any file."""
PUSHES = "pushes/"
"""One marker per push in progress, listing its blobs, which gc must keep."""
LOCKS = "locks/"
QUARANTINE = "quarantine/"
ARCHIVE = "archive/"
"""The reports of archive passes, per rule; their locks are under ``locks/archive/<rule>/``."""
GENERATION_KEY = "blobs/generation"
"""Changed by every gc that deletes blobs, so that local indexes of known blobs
(which let a push skip asking about each blob) know to forget what they knew."""
_GENERATION_LENGTH = 100


def blob_key(sha256: str) -> str:
    return f"{BLOBS}{sha256[:2]}/{sha256}"


def version_key(owner: str, name: str, version: str, root: str = DATASETS) -> str:
    """A dataset's version, or under ``root=MODELS`` a model's."""
    return f"{root}{owner}/{name}/versions/{version}.json"


def push_marker_key(push_id: str) -> str:
    return f"{PUSHES}{push_id}.json"


def lock_prefix(scope: str) -> str:
    return f"{LOCKS}{scope}/"


def archive_reports(rule: str) -> str:
    """The prefix of a rule's pass reports; their names sort as the passes started."""
    return f"{ARCHIVE}{rule}/reports/"


def archive_lock_scope(rule: str) -> str:
    """The lock scope that keeps two passes of one rule apart, on any machine."""
    return f"archive/{rule}"


def latest_key(owner: str, name: str, root: str = DATASETS) -> str:
    return f"{root}{owner}/{name}/latest"


def quarantine_key(sha256: str, etag: str) -> str:
    return f"{QUARANTINE}{sha256}.{etag or 'unknown'}"


def blob_generation(bucket: Bucket) -> str:
    """The current blob generation: a short line of text that only changes."""
    found = bucket.get_with_etag(GENERATION_KEY)
    if found is None:
        return "0"
    raw = found[0]
    try:
        generation = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        generation = ""
    if not (generation.isprintable() and 0 < len(generation) <= _GENERATION_LENGTH):
        raise InvalidStoreObjectError(
            GENERATION_KEY, "", f"does not hold a blob generation ({quoted(raw)})"
        )
    return generation


def move_generation(bucket: Bucket) -> None:
    """Tell every machine's index of known blobs to forget what it knew: blobs went away."""
    generation = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    bucket.put_bytes(GENERATION_KEY, generation.encode(), content_type="text/plain")
