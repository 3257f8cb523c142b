"""What the dataset-version commands share: the store, refs, summaries, Ctrl-C."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import click

from datayard.core.bucket import Bucket
from datayard.core.catalog import Catalog, DatasetRef
from datayard.core.events import CancelToken
from datayard.core.manifest import Manifest, Role
from datayard.core.workspace import Workspace

REF_METAVAR = "[OWNER/]NAME[@VERSION]"

profile_option = click.option(
    "--profile",
    "profile_name",
    metavar="PROFILE",
    default=None,
    help="Storage profile to use [default: the default profile].",
)
workers_option = click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Parallel transfers.",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a machine-readable result on stdout."
)


def count(number: int, noun: str) -> str:
    """ "1 file", "2 files": counts read as sentences."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


@dataclass(frozen=True)
class Store:
    """One profile's bucket, and the owner that a ref without one means."""

    bucket: Bucket
    catalog: Catalog
    owner: str

    def manifest(self, text: str) -> Manifest:
        """The version a user named; the newest when no version is given."""
        return self.catalog.manifest(DatasetRef.parse(text, self.owner))


def open_store(profile_name: str | None, connections: int = 10) -> Store:
    """``connections`` should match the parallel transfers the command runs."""
    workspace = Workspace.default()
    connection = workspace.connect(profile_name)
    bucket = Bucket(connection.profile, connection.secret, connections=connections)
    return Store(bucket, Catalog(bucket), workspace.settings().owner)


def summary(manifest: Manifest) -> dict[str, Any]:
    """One version as plain data: the --json of ``show`` and the rows of ``datasets``."""
    histogram = manifest.class_histogram()
    names = dict(enumerate(manifest.class_names))
    return {
        "ref": manifest.ref,
        "owner": manifest.owner,
        "name": manifest.name,
        "id": manifest.id,
        "created": manifest.created,
        "parent": manifest.parent,
        "pushed_by": manifest.pushed_by,
        "source": {"host": manifest.source_host, "paths": list(manifest.source_paths)},
        "files": len(manifest.files),
        "bytes": manifest.total_bytes,
        "images": sum(1 for f in manifest.files if f.role is Role.IMAGE),
        "labels": sum(1 for f in manifest.files if f.role is Role.LABEL),
        "splits": dict(sorted(manifest.split_counts().items())),
        "classes": [
            {"id": class_id, "name": names.get(class_id), "instances": histogram[class_id]}
            for class_id in sorted(names.keys() | histogram.keys())
        ],
    }


@contextmanager
def interruptible() -> Iterator[CancelToken]:
    """Ctrl-C asks the operation to stop cleanly (no half-written files); twice stops at once."""
    cancel = CancelToken()

    def stop(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)
