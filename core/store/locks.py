"""Locks in the bucket: pushes share the store, gc and repairs have it to themselves.

gc decides which blobs nothing uses, then deletes them. A push that counted
one of those blobs as stored between the two moments would publish a version
naming a deleted blob. So a push holds a *shared* lock from before it asks
the store what it has until it has published, and gc holds an *exclusive* one
from before it reads what is in use until its last delete: the two never
overlap. The protocol is restic's, on any strongly consistent S3 store:

- A lock is one object, ``locks/<scope>/<mode>-<id>.json``, saying who holds
  it. Its holder rewrites it every ``refresh_s``: the server's time of the
  last write is its heartbeat, so no two machines' clocks are ever compared.
- Taking a lock: write yours, then list the scope. Of two takers, at least one
  sees the other, since each lists only after its own write. Shared conflicts
  with exclusive; exclusive with everything.
  - A shared taker that sees a live exclusive lock keeps its own and waits
    for that one to go. An exclusive taker that lists later sees the shared
    lock and backs off, so they cannot both go on, and cannot both back off.
  - An exclusive taker that sees any other live lock removes its own, waits
    until none is live, and tries again, after a random part of a poll so
    that two gcs do not retry in step.
- A lock is live unless its holder is provably gone (the same machine, its
  process has ended: removed on sight) or it was not rewritten for ``stale_s``
  by the server's clock (ignored and reported; ``datayard unlock`` removes it).
- A holder that could not rewrite its lock for ``stale_s / 2`` (a suspended
  laptop, a store that did not answer) may have been judged stale by others:
  :meth:`HeldLock.ensure_fresh` then raises :class:`LockLostError`, and the
  holder stops (gc, before its next delete) or takes its lock again and checks
  the store once more (a push, before it publishes).
"""

from __future__ import annotations

import getpass
import json
import logging
import math
import os
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import psutil

from datayard.core.errors import LockLostError, StorageError, StoreLockedError
from datayard.core.events import Cancelled, CancelToken, Checkpoint, Waiting, check_cancel
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import lock_prefix
from datayard.core.store.s3 import is_missing

log = logging.getLogger(__name__)

STORE = "store"
"""The scope of the locks that keep gc and repairs apart from pushes."""
CLOCK_PROBE = ".datayard/clock/"


class Mode(StrEnum):
    SHARED = "shared"
    EXCLUSIVE = "exclusive"


class Liveness(StrEnum):
    LIVE = "live"
    STALE = "stale"
    """Not rewritten for the stale time: ignored, shown, removed by ``datayard unlock``."""
    ENDED = "ended"
    """Its process, on this machine, has ended: removed by whoever sees it."""


@dataclass(frozen=True)
class LockTiming:
    refresh_s: float = 60.0
    stale_s: float = 600.0
    """Ten refreshes: a store that does not answer for a few minutes loses no lock."""
    poll_s: float = 2.0
    """How often a waiting operation looks again."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as the lock object says, for people and for the liveness check."""

    operation: str
    user: str
    host: str
    machine: str
    """The host and, on Linux, its boot and process namespace: where ``pid`` means something."""
    pid: int
    process_started: float
    started: str

    @classmethod
    def this_process(cls, operation: str) -> Holder:
        return cls(
            operation=operation,
            user=_user(),
            host=socket.gethostname(),
            machine=this_machine(),
            pid=os.getpid(),
            process_started=psutil.Process().create_time(),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    @classmethod
    def parse(cls, raw: bytes) -> Holder:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        names = [data.get(name) for name in ("operation", "user", "host", "machine", "started")]
        pid, started = data.get("pid"), data.get("process_started")
        if not all(isinstance(name, str) for name in names):
            raise ValueError("a name is missing")
        if type(pid) is not int or not isinstance(started, int | float):
            raise ValueError("the process is missing")
        operation, user, host, machine, since = (str(name) for name in names)
        return cls(operation, user, host, machine, pid, float(started), since)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()


@dataclass(frozen=True)
class StoreLock:
    key: str
    mode: Mode
    holder: Holder | None
    """``None`` when the object could not be read: it still counts, until stale."""
    modified: datetime

    def describe(self) -> str:
        if self.holder is None:
            return f"an unreadable lock object {self.key}"
        who = self.holder
        return (
            f"{who.operation} by {who.user} on {who.host} ({_since(who.started)}process {who.pid})"
        )


def _since(started: str) -> str:
    try:
        moment = datetime.fromisoformat(started).astimezone(UTC)
    except ValueError:
        return ""
    return f"since {moment:%Y-%m-%d %H:%M} UTC, "


def this_machine() -> str:
    """Where a process id names a process: two hosts (or containers) may share a name."""
    host = socket.gethostname()
    if sys.platform != "linux":
        return host
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return host
    return f"{host}/{boot}/{namespace}"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def process_running(pid: int, started: float) -> bool:
    """Whether that process still runs: same id and start time (ids are reused)."""
    try:
        process = psutil.Process(pid)
        return abs(process.create_time() - started) < 1 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def liveness(lock: StoreLock, *, server_now: datetime, stale_s: float) -> Liveness:
    holder = lock.holder
    if (
        holder is not None
        and holder.machine == this_machine()
        and not process_running(holder.pid, holder.process_started)
    ):
        return Liveness.ENDED
    if server_now - lock.modified > timedelta(seconds=stale_s):
        return Liveness.STALE
    return Liveness.LIVE


def list_locks(bucket: Bucket, scope: str = STORE) -> list[StoreLock]:
    """Every lock of the scope; one that vanished while it was read was released."""
    found = []
    for item in bucket.objects(lock_prefix(scope)):
        name = item.key.rsplit("/", 1)[-1]
        mode_name = name.split("-", 1)[0]
        mode = Mode(mode_name) if mode_name in Mode.__members__.values() else Mode.EXCLUSIVE
        try:
            raw = bucket.get_bytes(item.key)
        except StorageError as error:
            if is_missing(error):
                continue
            raise
        try:
            holder: Holder | None = Holder.parse(raw)
        except (ValueError, TypeError):
            holder = None
        found.append(StoreLock(item.key, mode, holder, item.modified or datetime.now(UTC)))
    return found


def server_time(bucket: Bucket) -> datetime:
    """The store's clock, read from an object it has just written."""
    key = f"{CLOCK_PROBE}{uuid.uuid4().hex}"
    bucket.put_bytes(key, b"")
    try:
        stored = bucket.stat(key)
    finally:
        bucket.remove([key])
    if stored is None or stored.modified is None:
        return datetime.now(UTC)
    return stored.modified


def remove_locks(
    bucket: Bucket, *, everything: bool = False, timing: LockTiming | None = None
) -> tuple[list[StoreLock], list[StoreLock]]:
    """Remove the stale locks and those of ended processes (every lock with ``everything``).

    Returns the removed locks and the live ones kept. Removing a live lock lets
    a gc delete blobs a push is about to use: only for a store where no
    Datayard is running any more.
    """
    stale_s = (timing or LockTiming()).stale_s
    now = server_time(bucket)
    removed: list[StoreLock] = []
    kept: list[StoreLock] = []
    for lock in list_locks(bucket):
        live = liveness(lock, server_now=now, stale_s=stale_s) is Liveness.LIVE
        (kept if live and not everything else removed).append(lock)
    bucket.remove(lock.key for lock in removed)
    return removed, kept


def _conflicts(mine: Mode, theirs: Mode) -> bool:
    return mine is Mode.EXCLUSIVE or theirs is Mode.EXCLUSIVE


def holders(blocking: Sequence[StoreLock]) -> str:
    """Who holds the store, in a user's words: "2 pushes (push of ada/cats by ada on ...; ...)"."""
    if len(blocking) == 1:
        return blocking[0].describe()
    kinds = {lock.holder.operation.split()[0] if lock.holder else "operation" for lock in blocking}
    kind = kinds.pop() if len(kinds) == 1 else "operation"
    plural = kind + ("es" if kind.endswith(("s", "sh")) else "s")
    listing = "; ".join(lock.describe() for lock in blocking[:3])
    more = f"; and {len(blocking) - 3} more" if len(blocking) > 3 else ""
    return f"{len(blocking)} {plural} ({listing}{more})"


class HeldLock:
    """A lock this process holds on the store, rewritten by a thread until released.

    Use it as a context manager; it is released even when the operation fails.
    """

    def __init__(
        self,
        bucket: Bucket,
        mode: Mode,
        holder: Holder,
        *,
        scope: str = STORE,
        timing: LockTiming | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.bucket = bucket
        self.mode = mode
        self.holder = holder
        self.scope = scope
        self.timing = timing or LockTiming()
        self.key = f"{lock_prefix(scope)}{mode.value}-{uuid.uuid4().hex}.json"
        self._checkpoint = checkpoint
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self._refreshed = -math.inf
        self._lost = ""

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def take(
        self, *, wait: bool = True, cancel: CancelToken | None = None
    ) -> Generator[Waiting, None, None]:
        """Write the lock and wait until no live lock conflicts with it (see the module doc)."""
        announced = ""
        try:
            while True:
                check_cancel(cancel)
                written = self._write()
                self._step("lock-written")
                others, now = self._others(written)
                self._step("locks-listed")
                blocking = self._blocking(others, now)
                if not blocking:
                    self._start_refresher()
                    return
                if self.mode is Mode.EXCLUSIVE:
                    self.bucket.remove([self.key])
                    self._step("backed-off")
                who = holders(blocking)
                if not wait:
                    verb = "is" if len(blocking) == 1 else "are"
                    raise StoreLockedError(
                        f"{who} {verb} in progress on this store; run the command again once "
                        "done, or 'datayard unlock' if it is known to have died"
                    )
                reason = f"waiting for {who} to finish with this store"
                if reason != announced:
                    log.info("%s", reason)
                    yield Waiting(reason)
                    announced = reason
                self._pause(cancel)
        except BaseException:
            self._forget()
            raise

    def regain(self, *, cancel: CancelToken | None = None) -> Generator[Waiting, None, None]:
        """Take the lock again after :class:`LockLostError`, waiting as :meth:`take` does."""
        self._stop_refresher()
        self._lost = ""
        self._refreshed = -math.inf
        yield from self.take(cancel=cancel)

    def ensure_fresh(self) -> None:
        """Raise :class:`LockLostError` if others may have judged this lock stale."""
        if not self._lost and time.monotonic() - self._refreshed > self.timing.stale_s / 2:
            self._lost = f"it was not refreshed for {time.monotonic() - self._refreshed:.0f} s"
        if self._lost:
            raise LockLostError(
                f"the lock of this {self.holder.operation} on the store is lost: {self._lost}"
            )

    def release(self) -> None:
        self._stop_refresher()
        self._forget()

    # -- the steps ---------------------------------------------------------------

    def _write(self) -> float:
        """Write (or rewrite) the lock; return when, by this process's clock."""
        self.bucket.put_bytes(self.key, self.holder.to_json(), content_type="application/json")
        now = time.monotonic()
        if now - self._refreshed > self.timing.stale_s / 2 and self._refreshed > -math.inf:
            self._lost = f"it was not refreshed for {now - self._refreshed:.0f} s"
        self._refreshed = now
        return now

    def _others(self, written: float) -> tuple[list[StoreLock], datetime]:
        """The other locks of the scope, and the server's time now, read from our own lock."""
        locks = list_locks(self.bucket, self.scope)
        mine = next((lock for lock in locks if lock.key == self.key), None)
        now = datetime.now(UTC)
        if mine is not None:
            now = mine.modified + timedelta(seconds=time.monotonic() - written)
        return [lock for lock in locks if lock.key != self.key], now

    def _blocking(self, others: list[StoreLock], now: datetime) -> list[StoreLock]:
        blocking = []
        for lock in others:
            if not _conflicts(self.mode, lock.mode):
                continue
            state = liveness(lock, server_now=now, stale_s=self.timing.stale_s)
            if state is Liveness.ENDED:
                log.info("removing the lock of an ended process: %s", lock.describe())
                self.bucket.remove([lock.key])
            elif state is Liveness.STALE:
                log.warning(
                    "ignoring a stale lock (not refreshed since %s): %s; "
                    "'datayard unlock' removes it",
                    lock.modified.isoformat(timespec="seconds"),
                    lock.describe(),
                )
            else:
                blocking.append(lock)
        return blocking

    def _pause(self, cancel: CancelToken | None) -> None:
        poll = self.timing.poll_s
        if self.mode is Mode.EXCLUSIVE:
            poll *= 0.5 + random.random()
        if (cancel or threading.Event()).wait(poll):
            raise Cancelled

    def _step(self, name: str) -> None:
        if self._checkpoint is not None:
            self._checkpoint(name)

    # -- keeping it alive --------------------------------------------------------

    def _start_refresher(self) -> None:
        self._stop.clear()
        self._refresher = threading.Thread(
            target=self._refresh, name=f"lock-{self.key[-13:-5]}", daemon=True
        )
        self._refresher.start()

    def _refresh(self) -> None:
        while not self._stop.wait(self.timing.refresh_s):
            try:
                if self.bucket.stat(self.key) is None:
                    self._lost = "someone removed it from the store"
                    return
                self._write()
            except StorageError as error:
                log.warning("could not refresh the lock %s: %s", self.key, error)

    def _stop_refresher(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
            self._refresher = None

    def _forget(self) -> None:
        """Remove the lock object; if the store refuses, it goes stale by itself."""
        try:
            self.bucket.remove([self.key])
        except StorageError as error:
            log.warning(
                "could not remove the lock %s (%s); it expires after %.0f s",
                self.key,
                error,
                self.timing.stale_s,
            )


def acquire(
    bucket: Bucket,
    mode: Mode,
    operation: str,
    *,
    scope: str = STORE,
    timing: LockTiming | None = None,
    wait: bool = True,
    cancel: CancelToken | None = None,
    checkpoint: Checkpoint | None = None,
) -> Generator[Waiting, None, HeldLock]:
    """Take a lock on the store for ``operation`` ("push of ada/cats", "gc").

    Yields :class:`Waiting` while another operation holds it (once per change
    of what it waits for); with ``wait=False`` raises :class:`StoreLockedError`
    instead.
    """
    holder = Holder.this_process(operation)
    lock = HeldLock(bucket, mode, holder, scope=scope, timing=timing, checkpoint=checkpoint)
    yield from lock.take(wait=wait, cancel=cancel)
    return lock
