"""Runs whose worker this machine does not reach, followed and asked through the store.

A cluster's pod and a worker of another machine tell their runs only through
the store of their profile: their events (:mod:`.stored_events`) and their
control object (:mod:`.stored_control`). Such a run's folder here is a copy,
brought up to date from the store as it is followed or listed, and its stop
and pause are requests written there. The cluster backend adds its Jobs to
this; the runs of other machines (:mod:`.other_machines`) have nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from datayard.core.errors import DatayardError
from datayard.core.events import CancelToken
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Connection, Workspace
from datayard.core.training import stored_control, stored_runs
from datayard.core.training.protocol import Record
from datayard.core.training.runs import (
    Control,
    EventCopy,
    EventLog,
    RunFolder,
    RunRegistry,
    RunSummary,
)
from datayard.core.training.stored_events import StoredEvents

log = logging.getLogger(__name__)


def store_bucket(connection: Connection) -> Bucket:
    """A bucket for a follower's few, small requests."""
    return Bucket(connection.profile, connection.secret, connections=2)


def catch_up(folder: RunFolder, bucket: Bucket) -> None:
    """Add to the run's copy here the events the store has after it."""
    copy = EventCopy(folder)
    for record in StoredEvents(bucket, folder.run_id).since(copy.next_seq):
        copy.take(record)


class ThroughStore:
    """Follows, stops and pauses runs of ``registry`` through the store of the profile
    their records name."""

    def __init__(self, registry: RunRegistry, workspace: Workspace) -> None:
        self.registry = registry
        self.workspace = workspace

    def request(self, folder: RunFolder, control: Control) -> None:
        """Ask the run's worker, through the store, to stop or pause after its batch."""
        stored_control.request(self.bucket(folder), folder.run_id, control)

    def stop(self, folder: RunFolder) -> None:
        self.request(folder, Control.STOP)

    def pause(self, folder: RunFolder) -> None:
        self.request(folder, Control.PAUSE)

    def follow(
        self, folder: RunFolder, cancel: CancelToken | None = None, *, from_seq: int = 0
    ) -> Iterator[Record]:
        """Every event of the run from ``from_seq``: those copied here, then the store's as
        they come, each added to the copy, until one is an ending."""
        copied = EventLog(folder.events_file).read_new()
        yield from (record for record in copied if record.seq >= from_seq)
        if copied and copied[-1].event.TERMINAL:
            return
        copy = EventCopy(folder)
        bucket = self.bucket(folder)
        quiet = self.quiet(folder, bucket)
        for record in stored_runs.follow(
            bucket, folder.run_id, cancel, from_seq=copy.next_seq, quiet=quiet
        ):
            if copy.take(record) and record.seq >= from_seq:
                yield record

    def quiet(self, folder: RunFolder, bucket: Bucket) -> Callable[[int], None] | None:
        """What a follower of the run does while the store has nothing new: nothing here."""
        return None

    def summary(self, folder: RunFolder) -> RunSummary:
        """The run as its copy here has it, first brought up to date from the store while
        it goes on; a store that does not answer at once leaves the copy as it is."""
        if not folder.summary().status.ended:
            try:
                catch_up(folder, self.bucket(folder).tried_once())
            except DatayardError as error:
                log.warning(
                    "run %s: its events in the store cannot be read: %s", folder.run_id, error
                )
        return folder.summary()

    def bucket(self, folder: RunFolder) -> Bucket:
        return store_bucket(self.workspace.connect(folder.record().spec.profile))
