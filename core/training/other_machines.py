"""The runs in the store that this machine did not launch, kept here as copies.

The app lists, plots and follows runs from their folders. A run launched from
another machine, or on a cluster from another machine, has none here; so the
store's runs get a copy each, in this machine's cache (one registry per
profile): the run's record, naming the profile it was read through, and a copy
of its events that each listing brings up to date, reading only the events
stored since. Copies are the store's, made again when deleted.

A copy of a cluster's run is the cluster backend's, which asks its Job when
this machine has the cluster. A copy of another machine's run is this
backend's: followed, stopped and paused through the store; resuming or killing
it is for the machine where its worker runs.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from datayard.core.errors import DatayardError, UsageError
from datayard.core.events import CancelToken
from datayard.core.pool import run_parallel
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.core.training import stored_runs
from datayard.core.training.runs import RunFolder, RunRegistry
from datayard.core.training.through_store import ThroughStore, catch_up, store_bucket

log = logging.getLogger(__name__)


class OtherMachines(ThroughStore):
    """Copies of the store's runs under ``root``, a registry per profile."""

    def __init__(self, root: Path, workspace: Workspace) -> None:
        super().__init__(RunRegistry(root), workspace)
        self.root = root

    def holds(self, folder: RunFolder) -> bool:
        """Whether ``folder`` is a copy of a run in the store."""
        return folder.path.is_relative_to(self.root)

    def copies(
        self,
        profile: str | None = None,
        *,
        leave_out: frozenset[str] = frozenset(),
        cancel: CancelToken | None = None,
    ) -> list[RunFolder]:
        """A copy of each run in the store of ``profile`` (the default one's) but those of
        ``leave_out``, up to date, newest first. A run whose record cannot be read is left
        out with a warning: anyone may write there."""
        connection = self.workspace.connect(profile)
        bucket = store_bucket(connection)
        registry = RunRegistry(self.root / connection.profile.name)
        wanted = [r for r in stored_runs.run_ids(bucket) if r not in leave_out]

        def copy(run_id: str) -> RunFolder | None:
            try:
                folder = self._copy(registry, bucket, run_id, connection.profile.name)
                catch_up(folder, bucket)
            except (DatayardError, OSError) as error:
                log.warning("run %s in the store is left out: %s", run_id, error)
                return None
            return folder

        found = run_parallel(
            copy, wanted, workers=stored_runs.READERS, cancel=cancel, name="store-copies"
        )
        return [folder for folder in found if folder is not None]

    def resume(self, folder: RunFolder) -> None:
        raise UsageError(self._elsewhere(folder, "resume"))

    def kill(self, folder: RunFolder, reason: str = "") -> None:
        raise UsageError(self._elsewhere(folder, "stop --kill"))

    @staticmethod
    def where(folder: RunFolder) -> str:
        return stored_runs.launched_where(folder.record().backend)

    @staticmethod
    def _copy(registry: RunRegistry, bucket: Bucket, run_id: str, profile: str) -> RunFolder:
        """The run's copy, made from its stored record the first time."""
        found = registry.find(run_id)
        if found is not None and found.run_id == run_id:
            return found
        record = stored_runs.stored_record(bucket, run_id)
        record = replace(record, spec=replace(record.spec, profile=profile))
        try:
            return registry.add(record)
        except FileExistsError:  # another window of this machine copied it first
            return registry.get(run_id)

    @staticmethod
    def _elsewhere(folder: RunFolder, command: str) -> str:
        return (
            f"run {folder.run_id} trains on {OtherMachines.where(folder)}: "
            f"`datayard {command} {folder.run_id}` is for the machine that launched it"
        )
