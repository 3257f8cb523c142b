"""A run's events read back from the store: how a run is followed while the machine it
trains on cannot be reached.

The worker's mirror (:mod:`datayard.core.training.mirror`) stores the events in
chunks named by their first event's sequence number, one after the other, so
the store holds a beginning of the run's events with no gap that fills later.
The keys are open to anyone with the profile, though, so what they hold is
checked as it is read: a read ends at the last event that continues the
sequence, before a chunk that does not begin where the one before it ended, a
line that is not the next event, a chunk cut in the middle of a line, or one
larger than the mirror writes. What the chunks hold never raises; the store's
own errors (unreachable, refused) reach the caller.
"""

from __future__ import annotations

import logging
from bisect import bisect_right, insort
from collections.abc import Iterator

from datayard.core.store.bucket import Bucket
from datayard.core.training.mirror import CHUNK_BYTES, events_seq, run_key
from datayard.core.training.protocol import ProtocolError, Record, decode
from datayard.core.units import size

log = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 8 * CHUNK_BYTES
"""The most of a chunk that is read: the mirror's hold at most :data:`CHUNK_BYTES` of
whole lines, and an event far less, so a larger object under that name is someone else's."""


class StoredEvents:
    """One run's events in the store, read again as often as asked: a read lists only the
    chunks stored since the one before, and fetches only those that may hold the events
    asked for."""

    def __init__(self, bucket: Bucket, run_id: str) -> None:
        self.bucket = bucket
        self.run_id = run_id
        self._chunks: list[tuple[int, str]] = []
        """(first sequence number, key) of every chunk listed so far, in sequence order."""
        self._listed: str | None = None
        """The last key listed: the next listing starts after it."""
        self._told: set[tuple[str, str]] = set()
        """(key, problem) pairs already in the log: a follower reads every few seconds."""

    def since(self, from_seq: int) -> Iterator[Record]:
        """The run's events from ``from_seq`` on, in sequence, as far as the store has them."""
        self._list_new()
        start = bisect_right([first for first, _ in self._chunks], from_seq) - 1
        if start < 0:
            return
        expected = self._chunks[start][0]
        for first, key in self._chunks[start:]:
            if first != expected:
                self._tell(key, f"it begins at event {first}, not {expected}")
                return
            records, problem = self._read(key, first)
            for record in records:
                if record.seq >= from_seq:
                    yield record
            if problem:
                self._tell(key, problem)
                return
            expected = first + len(records)

    def _list_new(self) -> None:
        prefix = run_key(self.run_id, "")
        for item in self.bucket.objects(run_key(self.run_id, "events/"), after=self._listed):
            self._listed = item.key
            first = events_seq(item.key.removeprefix(prefix))
            if first is not None:
                insort(self._chunks, (first, item.key))

    def _read(self, key: str, first: int) -> tuple[list[Record], str]:
        """The events of one chunk that continue the sequence from ``first``, and why they
        end before the chunk does ("" when they do not)."""
        data = bytearray()
        for piece in self.bucket.stream(key):
            data += piece
            if len(data) > MAX_CHUNK_BYTES:
                return [], f"it holds more than {size(MAX_CHUNK_BYTES)}"
        *lines, rest = bytes(data).split(b"\n")
        records: list[Record] = []
        for number, line in enumerate(lines, 1):
            record = _event(line)
            if record is None or record.seq != first + len(records):
                return records, f"its line {number} is not event {first + len(records)}"
            records.append(record)
        if rest:
            return records, "it ends in the middle of a line"
        return records, "" if records else "it holds no event"

    def _tell(self, key: str, problem: str) -> None:
        if (key, problem) not in self._told:
            self._told.add((key, problem))
            log.warning(
                "run %s: the store's copy of its events stops at %s: %s",
                self.run_id,
                key,
                problem,
            )


def _event(line: bytes) -> Record | None:
    try:
        return decode(line.decode("utf-8"))
    except (UnicodeDecodeError, ProtocolError):
        return None
