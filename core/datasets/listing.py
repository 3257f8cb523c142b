"""The store's datasets as people browse them: each dataset with its versions.

Loading is one operation (connect, then read every manifest) so that a window
can show it as one step with progress and a cancel button, and keep the open
bucket for what follows (pulling a version).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.pull import DEFAULT_WORKERS
from datayard.core.events import CancelToken, Finished, Progress, check_cancel
from datayard.core.settings import Profile
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace

PHASE_CONNECTING = "connecting to the store"
PHASE_READING = "reading the datasets"


@dataclass(frozen=True)
class DatasetVersions:
    """One dataset and its versions, oldest first (version ids sort by time)."""

    owner: str
    name: str
    versions: tuple[Manifest, ...]

    @property
    def latest(self) -> Manifest:
        return self.versions[-1]


@dataclass(frozen=True)
class StoreContents:
    profile: Profile
    bucket: Bucket
    """Open with enough connections to pull a version with the default workers."""
    datasets: tuple[DatasetVersions, ...]


def group_versions(manifests: Iterable[Manifest]) -> tuple[DatasetVersions, ...]:
    ordered = sorted(manifests, key=lambda m: (m.owner, m.name, m.id))
    return tuple(
        DatasetVersions(owner, name, tuple(versions))
        for (owner, name), versions in groupby(ordered, lambda m: (m.owner, m.name))
    )


def load_store(
    workspace: Workspace, profile_name: str | None, cancel: CancelToken | None = None
) -> Iterator[Progress | Finished[StoreContents]]:
    """Connect to the profile's store (starting the embedded one if need be) and read it."""
    yield Progress(PHASE_CONNECTING, 0)
    connection = workspace.connect(profile_name)
    check_cancel(cancel)
    yield Progress(PHASE_READING, 0)
    bucket = Bucket(connection.profile, connection.secret, connections=DEFAULT_WORKERS)
    manifests = Catalog(bucket).all_manifests()
    check_cancel(cancel)
    yield Finished(StoreContents(connection.profile, bucket, group_versions(manifests)))


def version_ref(manifest: Manifest) -> DatasetRef:
    return DatasetRef(manifest.owner, manifest.name, manifest.id)
