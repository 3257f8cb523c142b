"""What the dataset-version commands share: the store, refs, summaries, Ctrl-C."""

from __future__ import annotations

from dataclasses import dataclass

import click

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.manifest import Manifest
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace

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
