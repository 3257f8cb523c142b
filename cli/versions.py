"""What the dataset-version commands share: the store, refs, summaries, Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import click
from rich.text import Text

from datayard.core.datasets.catalog import Catalog, DatasetRef, R, VersionHistory
from datayard.core.datasets.manifest import Manifest
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace

from .render import out

REF_METAVAR = "[OWNER/]NAME[@VERSION]"

profile_option = click.option(
    "--profile",
    "profile_name",
    metavar="PROFILE",
    default=None,
    help="Storage profile to use [default: the default profile].",
)


Decorated = TypeVar("Decorated", bound=Callable[..., Any])


def workers_option(default: int) -> Callable[[Decorated], Decorated]:
    """``--workers``: transfers at once, ``default`` being the command's own."""
    return click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=default,
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
        return self.catalog.version(DatasetRef.parse(text, self.owner))


def open_store(profile_name: str | None, connections: int = 10) -> Store:
    """``connections`` should match the parallel transfers the command runs."""
    workspace = Workspace.default()
    connection = workspace.connect(profile_name)
    bucket = Bucket(connection.profile, connection.secret, connections=connections)
    return Store(bucket, Catalog(bucket), workspace.settings().owner)


def history_json(
    history: VersionHistory[R], summary: Callable[[R, int], dict[str, Any]]
) -> dict[str, Any]:
    """A dataset or model with its versions (each as ``summary`` tells) and those that
    cannot be read, for ``--json``."""
    return {
        "owner": history.owner,
        "name": history.name,
        "versions": [summary(v, history.number(v)) for v in history.versions],
        "broken": [
            {"id": broken.id, "object": broken.error.key, "problem": str(broken.error)}
            for broken in history.broken
        ],
    }


def print_unreadable(histories: Iterable[VersionHistory[Any]]) -> None:
    """One line per version that cannot be read, with the reason, after the table."""
    for broken in (broken for history in histories for broken in history.broken):
        out.print(Text(f"cannot be read: {broken.error}", style="red"))
