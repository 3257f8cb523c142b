"""A push's check, run beside its uploads: only the publication waits for it.

Blobs are named by their content, so a blob sent for a push that the check
then refuses does no harm: the next push, after a fix, finds it stored and
sends nothing again, and gc collects it otherwise. What the check guards is
the version, and a version is published only once the check has passed (or
was overridden with ``--force``). A push of many small files therefore no
longer pays for the check and the uploads one after the other: the check
reads headers and labels in its threads while the uploads wait on the
network in theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from pathlib import Path

from datayard.core.drive import check as checking
from datayard.core.drive.check import CheckReport
from datayard.core.drive.inventory import Inventory
from datayard.core.events import CancelToken, Finished, Progress, check_cancel

WAIT_S = 0.1
"""How often the push, once it waits for the check, reports the check's progress."""


class CheckBeside:
    """The check of ``inventories``, started in a thread at once; ``database`` holds the
    results of files checked before."""

    def __init__(self, inventories: Sequence[Inventory], database: Path) -> None:
        self.stop = CancelToken()
        """Set by :meth:`close`: the check ends at its next file."""
        self._progress: Progress | None = None
        self._reports: list[CheckReport] = []
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(list(inventories), database), name="push-check", daemon=True
        )
        self._thread.start()

    def _run(self, inventories: list[Inventory], database: Path) -> None:
        try:
            for inventory in inventories:
                for event in checking.check(inventory, cancel=self.stop, database=database):
                    if isinstance(event, Finished):
                        self._reports.append(event.result)
                    elif isinstance(event, Progress):
                        self._progress = event
        except BaseException as error:  # handed to the push, in its own thread
            self._error = error
        finally:
            self._done.set()

    def reports(self, cancel: CancelToken | None) -> Generator[Progress, None, list[CheckReport]]:
        """The reports, once the check ends; its progress meanwhile."""
        while not self._done.wait(WAIT_S):
            check_cancel(cancel)
            if self._progress is not None:
                yield self._progress
        if self._error is not None:
            raise self._error
        return self._reports

    def close(self) -> None:
        """Stop the check if it still runs, and wait for its thread."""
        self.stop.set()
        self._thread.join()
