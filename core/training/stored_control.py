"""Stop and pause requests through the store: how a worker anywhere is reached.

A run's control file (:meth:`RunFolder.request`) reaches only a worker on the
machine that holds the folder. The store is what every machine with the
profile shares, so a request is also an object there, ``runs/<run-id>/control``,
holding one word of :class:`Control` (``stop`` or ``pause``). Every worker with
a store connection watches it from a thread of its own (:class:`ControlWatch`)
and obeys it as it obeys its control file, after its current batch.

The watch asks with one HEAD request every :data:`POLL_INTERVAL_S`, and reads
the object only when its ETag changed and it is no larger than a word: a
request costs a worker one small GET, the rest of the time a HEAD that finds
nothing. A worker that obeyed a request deletes the object it read (unless
someone wrote another meanwhile), so that a resumed run does not obey it
again; the app clears it too when it resumes a run (:func:`clear`).
"""

from __future__ import annotations

import logging
import threading

from datayard.core.errors import DatayardError, PreconditionFailedError
from datayard.core.store.bucket import Bucket, StoredObject
from datayard.core.training.mirror import run_key
from datayard.core.training.runs import Control

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0
"""How often a worker asks the store for a request: one HEAD request each time."""
CONTROL_NAME = "control"
_LARGEST = 64
"""The largest object read as a request: one word and some white space."""


def control_key(run_id: str) -> str:
    return run_key(run_id, CONTROL_NAME)


def request(bucket: Bucket, run_id: str, control: Control) -> None:
    """Ask the run's worker, wherever it trains, to stop or pause after its batch."""
    bucket.put_bytes(
        control_key(run_id), control.value.encode(), content_type="text/plain; charset=utf-8"
    )


def clear(bucket: Bucket, run_id: str) -> None:
    """Withdraw the run's request, as a resume does: its next worker trains on."""
    bucket.remove([control_key(run_id)])


def parse(data: bytes) -> Control | None:
    """The request ``data`` holds; ``None`` for anything else (anyone may write there)."""
    text = data.decode("utf-8", errors="replace").strip()
    return Control(text) if text in Control._value2member_map_ else None


class ControlWatch:
    """A thread that keeps the run's last request in the store, for the training's hooks
    to read after each batch without waiting for the store."""

    def __init__(self, bucket: Bucket, run_id: str, *, interval_s: float = POLL_INTERVAL_S) -> None:
        self.bucket = bucket.tried_once()
        self.key = control_key(run_id)
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._seen: tuple[str, Control | None] | None = None
        """The ETag of the object last read, and the request it holds."""
        self._delivered: str | None = None
        """The ETag of the object whose request the training was handed."""
        self._failing = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="control-watch", daemon=True)
        self._thread.start()

    def requested(self) -> Control | None:
        """The request in the store when last asked; a request handed over is marked as
        obeyed, to be deleted at :meth:`close`."""
        with self._lock:
            if self._seen is None or self._seen[1] is None:
                return None
            self._delivered = self._seen[0]
            return self._seen[1]

    def close(self) -> None:
        """Stop watching; delete the request that the training obeyed, unless the object
        changed since (a request that came after it stays for the next worker).

        Nothing here waits for a store that did not answer the last look: the thread, a
        daemon, ends after the look under way, and the run's end is not held up."""
        self._closed.set()
        if self._delivered is None or self._failing:
            return
        try:
            self.bucket.remove_if(self.key, self._delivered)
        except PreconditionFailedError:
            log.info("another request was written to %s meanwhile: it stays", self.key)
        except DatayardError as error:
            log.warning("could not delete the obeyed request %s: %s", self.key, error)

    def _run(self) -> None:
        while True:
            self._poll()
            if self._closed.wait(self._interval_s):
                return

    def _poll(self) -> None:
        try:
            found = self.bucket.stat(self.key)
            seen = None if found is None else self._read(found)
        except DatayardError as error:
            if not self._failing:
                log.warning("cannot read requests from %s, asked again: %s", self.key, error)
            self._failing = True
            return
        if self._failing:
            log.info("requests are read from %s again", self.key)
        self._failing = False
        with self._lock:
            self._seen = seen

    def _read(self, found: StoredObject) -> tuple[str, Control | None]:
        with self._lock:
            if self._seen is not None and self._seen[0] == found.etag:
                return self._seen
        if found.size > _LARGEST:
            log.warning("%s holds %d bytes, not a request: ignored", self.key, found.size)
            return found.etag, None
        data, etag = self.bucket.get_with_etag(self.key) or (b"", found.etag)
        control = parse(data)
        if control is None:
            log.warning("%s holds no request (stop or pause): ignored", self.key)
        return etag, control
