"""A push as a front end asks for it: folders, a dataset name and a profile.

The request is what a queue keeps and persists; running it (or previewing it)
resolves the profile to a connected bucket at that moment, on the caller's
worker thread, because starting the embedded store or reading the keyring
takes time that a UI thread cannot spend.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path

from datayard.core.child_process import run_in_child_process
from datayard.core.datasets.manifest import check_message
from datayard.core.datasets.push.engine import PushEvent, PushOptions, push
from datayard.core.datasets.push.plan import SplitMode
from datayard.core.datasets.push.preview import PushPreview, preview
from datayard.core.events import CancelToken, Finished, Progress
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Connection, Workspace

DEFAULT_WORKERS = PushOptions.workers


@dataclass(frozen=True)
class PushRequest:
    """Everything needed to run (and run again) one push."""

    paths: tuple[Path, ...]
    dataset: str
    profile: str
    split: SplitMode = SplitMode.AUTO
    force: bool = False
    message: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "paths": [str(p) for p in self.paths],
                "dataset": self.dataset,
                "profile": self.profile,
                "split": self.split.value,
                "force": self.force,
                "message": self.message,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> PushRequest:
        data = json.loads(text)
        return cls(
            paths=tuple(Path(p) for p in data["paths"]),
            dataset=str(data["dataset"]),
            profile=str(data["profile"]),
            split=SplitMode(data["split"]),
            force=bool(data["force"]),
            message=str(data.get("message", "")),  # queues saved before messages have none
        )


def run_request(
    workspace: Workspace,
    request: PushRequest,
    *,
    workers: int = DEFAULT_WORKERS,
    cancel: CancelToken | None = None,
) -> Generator[object, None, None]:
    """The push of ``request`` in a child process; running it again resumes it.

    The profile is resolved here, in the caller's process: the embedded store
    it may start belongs to the app, not to the child. The upload threads run
    in the child, with an interpreter lock of their own (see
    :mod:`datayard.core.child_process`).
    """
    options, connection = _target(workspace, request, workers)
    yield from run_in_child_process(
        _push, list(request.paths), options, connection, workspace.dirs.database, cancel=cancel
    )


def _push(
    paths: list[Path],
    options: PushOptions,
    connection: Connection,
    database: Path,
    cancel: CancelToken | None = None,
) -> Generator[PushEvent, None, None]:
    bucket = _bucket(connection, options)
    yield from push(paths, options, bucket=bucket, database=database, cancel=cancel)


def preview_request(
    workspace: Workspace,
    request: PushRequest,
    *,
    workers: int = DEFAULT_WORKERS,
    cancel: CancelToken | None = None,
) -> Generator[Progress | Finished[PushPreview], None, None]:
    """What :func:`run_request` would send, without sending it."""
    options, connection = _target(workspace, request, workers)
    yield from preview(
        list(request.paths),
        options,
        bucket=_bucket(connection, options),
        database=workspace.dirs.database,
        cancel=cancel,
    )


def _target(
    workspace: Workspace, request: PushRequest, workers: int
) -> tuple[PushOptions, Connection]:
    options = PushOptions(
        dataset=request.dataset,
        owner=workspace.settings().owner,
        split=request.split,
        force=request.force,
        workers=workers,
        message=check_message(request.message),
    )
    return options, workspace.connect(request.profile)


def _bucket(connection: Connection, options: PushOptions) -> Bucket:
    return Bucket(connection.profile, connection.secret, connections=2 * options.workers)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def suggest_dataset_name(folders: Sequence[Path]) -> str:
    """A valid dataset name from the folders' names (``check_name``'s alphabet).

    Sibling folders pushed together (``train`` and ``val``) are named after
    their parent, which is what the set is usually called.
    """
    if not folders:
        return "dataset"
    parents = {folder.parent for folder in folders}
    source = folders[0] if len(folders) == 1 or len(parents) > 1 else next(iter(parents))
    ascii_name = unicodedata.normalize("NFKD", source.name).encode("ascii", "ignore").decode()
    name = _UNSAFE.sub("-", ascii_name).lstrip("._-")[:100].rstrip("._-")
    return name or "dataset"


def folders_to_push(paths: Sequence[Path]) -> list[Path]:
    """The folders to push for dropped paths: a dropped file stands for its folder.

    A push stores whole folders (their layout decides splits and labels), so
    images dragged from a file manager push the folder they are in. Order is
    kept; duplicates and paths that no longer exist are dropped.
    """
    folders: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            folders[path] = None
        elif path.is_file():
            folders[path.parent] = None
    return list(folders)
