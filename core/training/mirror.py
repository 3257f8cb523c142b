"""Copies a run's events and files to the store while it trains, and catches up after the
store was away.

The store is where a run can be followed from another machine and found again
after this one is gone, so the worker mirrors as it goes. Training never waits
for the store: two background threads store what the run hands over, one the
events and one the files, so that a large checkpoint on a slow link never
holds the events up.

Events go in ordered chunks, ``events/<seq>.jsonl``, named by the sequence
number of their first event and holding at most :data:`CHUNK_BYTES` of whole
lines. Every :data:`FLUSH_INTERVAL_S` the events not stored yet are cut into
chunks and stored one after the other: a chunk is stored only once the one
before it is, and a chunk that was sent is sent again unchanged (same key, same
bytes) until the store takes it. A reader of the store's copy therefore sees a
beginning of the run's events: never a gap that fills later, never an event
twice, whatever request got lost on the way. The events wait in a file in the
mirror's folder, not in memory: a store away for hours costs as much disk as
the run's own ``events.jsonl``, and no memory.

Files (``spec.json``, ``results.csv`` after each epoch, checkpoints, all of
Ultralytics' output at the end) are queued in the order they come, one copy per
key: a newer copy of a file replaces the one still waiting (a snapshot's copy is
deleted at once) and takes its turn at the back of the queue.

The store is *away* when a request gets no answer (a connection refused or
dropped, a timeout, a name that does not resolve: a tunnel that closed) or a
busy server's answer. Each request is made once (the retry policy's tries would
only add up: this is where they are tried again); a thread that meets a store
that is away stops there and tries the same request again every
:data:`FLUSH_INTERVAL_S`, while what comes meanwhile waits behind it in order.
Once a request gets through, everything waiting is stored at once, in order. A
request the store *refuses* (a bucket policy, credentials) is no outage: a
refused file is tried again at every pass while the files behind it go on; a
refused chunk holds the events behind it, which never skip one.

At the end of a run the worker waits for the store a bounded time, its spec's
``store_wait`` (:meth:`Mirror.wait`), then writes its terminal event, naming in
``unstored`` what the store still lacks: files by their keys, and
``events/<seq>.jsonl`` for the events from that number on. The terminal event
itself then goes to the store only if the store answered that wait
(:meth:`Mirror.close`): when the store is still away, the worker ends without
waiting again, the store's copy of the events is a gapless beginning of the
run's that ends where the terminal event says, and the whole stream, terminal
event included, is in the run's ``events.jsonl``, which the app follows (over
SSH for a training host). The files stay in the run's folder.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from datayard.core.errors import DatayardError, EndpointUnreachableError
from datayard.core.store.bucket import Bucket
from datayard.core.store.retry import is_transient

log = logging.getLogger(__name__)

RUNS = "runs/"
FLUSH_INTERVAL_S = 2.0
"""How often the events are stored, and how often a store that is away is asked again."""
CHUNK_BYTES = 1 << 20
"""The most an events chunk holds (a single longer line goes whole): after a long outage
the backlog goes in requests of a bounded size, which a reader fetches one by one."""
LAST_CHUNK_WAIT_S = 60.0
"""How long the terminal event's chunk may take once the store answered the wait before."""


def run_key(run_id: str, name: str) -> str:
    return f"{RUNS}{run_id}/{name}"


def events_name(first_seq: int) -> str:
    """A chunk's key under ``runs/<run-id>/``, named by its first event's sequence number."""
    return f"events/{first_seq:09d}.jsonl"


def events_seq(name: str) -> int | None:
    """The first sequence number of the chunk named ``name`` under ``runs/<run-id>/``;
    ``None`` for a name :func:`events_name` does not make (anyone may store other keys)."""
    digits = name.removeprefix("events/").removesuffix(".jsonl")
    if not (digits.isascii() and digits.isdigit()):
        return None
    return int(digits) if events_name(int(digits)) == name else None


def events_key(run_id: str, first_seq: int) -> str:
    return run_key(run_id, events_name(first_seq))


def artifact_key(run_id: str, relative: str) -> str:
    return run_key(run_id, f"artifacts/{relative}")


class _StoreAwayError(Exception):
    """The store gave no answer, or a busy server's: the pass stops at what met it, and
    what waits behind it waits on."""


class _Lane:
    """A thread that stores one kind of item in order, every :data:`FLUSH_INTERVAL_S` or
    when woken, and knows whether the store answered its last pass."""

    def __init__(self, what: str, store_pending: Callable[[], None]) -> None:
        self.what = what
        self._store_pending = store_pending
        """One pass over what waits; :class:`_StoreAwayError` when the store's silence stops it."""
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._last_pass = True
        self._passes = threading.Condition()
        self._begun = 0
        self._answered = 0
        """The number of the last pass that the store answered to the end."""
        self._away: _StoreAwayError | None = None
        self._thread = threading.Thread(target=self._run, name=f"mirror-{what}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def ask(self) -> int:
        """Start a pass now; the number a pass that begins from here on will have."""
        with self._passes:
            wanted = self._begun + 1
        self._wake.set()
        return wanted

    def answered(self, wanted: int, deadline: float) -> bool:
        """Whether pass ``wanted`` or a later one ends with the store answering, by ``deadline``
        (a :func:`time.monotonic` time)."""
        with self._passes:
            return self._passes.wait_for(
                lambda: self._answered >= wanted, max(0.0, deadline - time.monotonic())
            )

    def close(self, timeout_s: float) -> None:
        """End the thread after one last pass, waited for at most ``timeout_s``; with no
        time to wait, after the pass under way if there is one (a daemon thread, which the
        end of the process ends if that pass waits for an answer)."""
        self._last_pass = timeout_s > 0
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            last = self._closing.is_set()
            if last and not self._last_pass:
                return
            with self._passes:
                self._begun += 1
                number = self._begun
            away: _StoreAwayError | None = None
            try:
                self._store_pending()
            except _StoreAwayError as error:
                away = error
            except Exception:
                # A defect must not end the thread: the run's end waits for its passes.
                log.exception("the mirror's pass over the run's %s failed", self.what)
            self._note(away)
            if away is None:
                with self._passes:
                    self._answered = number
                    self._passes.notify_all()
            if last:
                return

    def _note(self, away: _StoreAwayError | None) -> None:
        if away is not None and self._away is None:
            log.warning(
                "the run's %s wait for the store, asked again every %.0f s: %s",
                self.what,
                FLUSH_INTERVAL_S,
                away.__cause__,
            )
        elif self._away is not None and away is None:
            log.info("the store answers again: the run's %s that waited are stored", self.what)
        self._away = away


@dataclass(frozen=True)
class _Chunk:
    first_seq: int
    body: bytes


class _Spool:
    """The run's event lines not stored yet, in a file: memory holds a few offsets, however
    long the store stays away.

    Lines are added by the training's thread and cut into chunks by the mirror's.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("w+b")
        self._lock = threading.Lock()
        self._start = 0
        """Where the first line not stored begins."""
        self._end = 0
        self._runs: deque[tuple[int, int]] = deque()
        """(offset, seq) of each line whose number does not follow its predecessor's: the
        first line waiting, and one after each skip in the numbers, if any."""
        self._next_seq: int | None = None
        self._head: _Chunk | None = None
        """The chunk that was sent and not stored: sent again as it is."""

    def add(self, seq: int, line: str) -> None:
        data = f"{line}\n".encode()
        with self._lock:
            if self._file.closed:
                return
            if not self._runs or seq != self._next_seq:
                self._runs.append((self._end, seq))
            self._file.seek(self._end)
            self._file.write(data)
            self._end += len(data)
            self._next_seq = seq + 1

    def head(self) -> _Chunk | None:
        """The next chunk to store: the one sent before, unchanged, or a new one."""
        if self._head is None:
            self._head = self._cut()
        return self._head

    def stored(self, chunk: _Chunk) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._head = None
            self._start += len(chunk.body)
            self._runs.popleft()
            if self._start == self._end:  # all stored: the file starts over
                self._file.seek(0)
                self._file.truncate()
                self._start = self._end = 0
            elif not self._runs or self._runs[0][0] != self._start:
                self._runs.appendleft((self._start, chunk.first_seq + chunk.body.count(b"\n")))

    def first_unstored(self) -> int | None:
        """The sequence number of the first event not stored; ``None`` when all are."""
        with self._lock:
            return self._runs[0][1] if self._start < self._end else None

    def close(self) -> None:
        """Lines added after this are dropped: the run's own events file has them."""
        with self._lock:
            self._file.close()

    def _cut(self) -> _Chunk | None:
        with self._lock:
            if self._file.closed or self._start == self._end:
                return None
            first_seq = self._runs[0][1]
            end = self._runs[1][0] if len(self._runs) > 1 else self._end
            self._file.seek(self._start)
            data = self._file.read(min(end - self._start, CHUNK_BYTES))
            cut = data.rfind(b"\n") + 1
            if not cut:  # one line longer than a chunk goes whole
                data += self._file.readline()
                cut = len(data)
        return _Chunk(first_seq, data[:cut])


@dataclass(frozen=True)
class _Upload:
    key: str
    path: Path
    temporary: bool

    def done(self) -> None:
        """Stored, or replaced by a newer copy: a snapshot is no longer needed."""
        if self.temporary:
            self.path.unlink(missing_ok=True)


class Mirror:
    """Stores a run's event lines and files in the background, each kind in the order it came."""

    def __init__(self, bucket: Bucket, run_id: str, folder: Path) -> None:
        """``folder`` holds the mirror's own files (snapshots, the events not stored yet) and
        is removed at :meth:`close`; one left by a worker that was killed is emptied here."""
        self.bucket = bucket.tried_once()
        self.run_id = run_id
        self._folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self._copies = itertools.count()
        self._spool = _Spool(folder / "events.jsonl")
        self._lock = threading.Lock()
        self._files: dict[str, _Upload] = {}
        """The files waiting, by key, in the order they are to be stored."""
        self._sending: _Upload | None = None
        """The upload being sent: a newer copy leaves its snapshot for the sender to delete."""
        self._refused: set[str] = set()
        """Keys whose last try the store refused: said once in the log, not at every pass."""
        self._answered_at_end = True
        self._events = _Lane("events", self._store_events)
        self._uploads = _Lane("files", self._store_files)

    def put_text(self, name: str, text: str) -> None:
        """Queue a small file of the run (its record) under ``runs/<run-id>/``."""
        copy = self._snapshot(name)
        copy.write_text(text, encoding="utf-8")
        self._queue(_Upload(run_key(self.run_id, name), copy, True))

    def add_line(self, seq: int, line: str) -> None:
        self._spool.add(seq, line)

    def add_file(self, path: Path, relative: str, *, snapshot: bool = False) -> None:
        """Queue ``path`` for upload as artifacts/``relative``.

        ``snapshot`` copies it first, for files the trainer rewrites in place
        (last.pt), so the upload never reads a half-written file.
        """
        key = artifact_key(self.run_id, relative)
        if snapshot:
            copy = self._snapshot(path.name)
            shutil.copyfile(path, copy)
            self._queue(_Upload(key, copy, True))
        else:
            self._queue(_Upload(key, path, False))

    def wait(self, timeout_s: float) -> bool:
        """Wait until what was handed over so far is stored, or refused once more; at most
        ``timeout_s``. False when the store did not answer in that time.

        A run's terminal event is written after this, naming what :meth:`unstored` says,
        so whoever sees the run end finds its weights and results in the store, or is
        told what is missing.
        """
        deadline = time.monotonic() + timeout_s
        lanes = (self._events, self._uploads)
        wanted = [lane.ask() for lane in lanes]
        self._answered_at_end = all(
            lane.answered(number, deadline) for lane, number in zip(lanes, wanted, strict=True)
        )
        return self._answered_at_end

    def unstored(self) -> tuple[str, ...]:
        """What the store lacks of what was handed over, as keys under ``runs/<run-id>/``:
        files, and ``events/<seq>.jsonl`` for the events from ``seq`` on."""
        prefix = run_key(self.run_id, "")
        with self._lock:
            files = sorted(key.removeprefix(prefix) for key in self._files)
        first = self._spool.first_unstored()
        return (*files, *([] if first is None else [events_name(first)]))

    def close(self) -> None:
        """Store what is left and stop: waiting at most :data:`LAST_CHUNK_WAIT_S`, and not
        at all when the store did not answer the :meth:`wait` before (the run is over, and
        its terminal event already names what the store lacks)."""
        timeout_s = LAST_CHUNK_WAIT_S if self._answered_at_end else 0.0
        deadline = time.monotonic() + timeout_s
        for lane in (self._events, self._uploads):
            lane.close(max(0.0, deadline - time.monotonic()))
        left = self.unstored()
        if left:
            log.warning("the run ends with the store lacking %s", ", ".join(left))
        self._spool.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _snapshot(self, name: str) -> Path:
        return self._folder / f"{next(self._copies)}-{name}"

    def _queue(self, upload: _Upload) -> None:
        with self._lock:
            older = self._files.pop(upload.key, None)
            self._files[upload.key] = upload
            superseded = older is not None and older is not self._sending
        if superseded:
            assert older is not None
            older.done()
        self._uploads.wake()

    def _send(self, key: str, action: Callable[[], object]) -> bool:
        """One request of the mirror: whether the store took it, False when it refused it;
        :class:`_StoreAwayError` when it did not answer."""
        try:
            action()
        except (DatayardError, OSError) as error:
            if isinstance(error, EndpointUnreachableError) or is_transient(error):
                raise _StoreAwayError(key) from error
            if key not in self._refused:
                self._refused.add(key)
                log.warning("the store refused %s; it is tried again at every pass: %s", key, error)
            return False
        self._refused.discard(key)
        return True

    def _store_events(self) -> None:
        """The chunks in order; one the store refuses holds the events behind it."""
        while (chunk := self._spool.head()) is not None:
            key = events_key(self.run_id, chunk.first_seq)
            if not self._send(key, partial(self.bucket.put_bytes, key, chunk.body)):
                return
            self._spool.stored(chunk)

    def _store_files(self) -> None:
        """The files in order; one the store refuses holds none back."""
        with self._lock:
            keys = list(self._files)
        for key in keys:
            with self._lock:
                upload = self._sending = self._files.get(key)
            if upload is None:
                continue
            stored = False
            try:
                stored = self._send(key, partial(self.bucket.put_file, key, upload.path))
            finally:
                self._sent(upload, stored)

    def _sent(self, upload: _Upload, stored: bool) -> None:
        """A stored file waits no more; a snapshot that a newer one replaced while it was
        sent is deleted now that it is read no more."""
        with self._lock:
            self._sending = None
            current = self._files.get(upload.key)
            if stored and current is upload:
                del self._files[upload.key]
        if stored or current is not upload:
            upload.done()
