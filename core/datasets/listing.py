"""The store's datasets as people browse them: each dataset with its versions.

Loading is one operation (connect, then read every manifest) so that a window
can show it as one step with progress and a cancel button, and keep the open
bucket for what follows (pulling a version). A version whose manifest cannot
be used is listed with the reason, beside the datasets that can be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from datayard.core.datasets.catalog import Catalog, DatasetRef, VersionHistory, group_versions
from datayard.core.datasets.manifest import Manifest
from datayard.core.datasets.pull import DEFAULT_WORKERS
from datayard.core.events import CancelToken, Finished, Progress, check_cancel
from datayard.core.settings import Profile
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace

PHASE_CONNECTING = "connecting to the store"
PHASE_READING = "reading the datasets"


@dataclass(frozen=True)
class StoreContents:
    profile: Profile
    bucket: Bucket
    """Open with enough connections to pull a version with the default workers."""
    datasets: tuple[VersionHistory[Manifest], ...]


def load_store(
    workspace: Workspace, profile_name: str | None, cancel: CancelToken | None = None
) -> Iterator[Progress | Finished[StoreContents]]:
    """Connect to the profile's store (starting the embedded one if need be) and read it."""
    yield Progress(PHASE_CONNECTING, 0)
    connection = workspace.connect(profile_name)
    check_cancel(cancel)
    yield Progress(PHASE_READING, 0)
    bucket = Bucket(connection.profile, connection.secret, connections=DEFAULT_WORKERS)
    stored = Catalog(bucket.heeding(cancel)).stored_versions()
    check_cancel(cancel)
    yield Finished(StoreContents(connection.profile, bucket, group_versions(stored)))


def version_ref(manifest: Manifest) -> DatasetRef:
    return DatasetRef(manifest.owner, manifest.name, manifest.id)
