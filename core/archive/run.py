"""One pass of an archive rule: scan its root once, push each dataset that changed.

A pass archives; it does not judge. A dataset with blocking check problems is pushed
anyway (the push's ``force``), and its version's message says it is not trainable,
with the problems counted by kind. A dataset whose content is its latest version's
costs the push's no-op path: a manifest read and the blob generation, no request per
file, and the scan cache makes its files cost a stat. One dataset's failure is
reported and the pass goes on with the others; only a store that refuses the
credentials or stops answering ends it (every push would meet the same).

Two passes of a rule never overlap, on one machine or many: a pass holds an exclusive
lock of the rule's own scope in the store (:mod:`datayard.core.store.locks`), and one
that finds another pass there refuses at once. A pass that was stopped leaves its
published versions and the blobs it sent; the next pass pushes what is left, and the
pushes it interrupted send only what the store still lacks.

A pass killed outright (SIGKILL, a machine that went down) stores no report, and its
lock stays in the store: the lock says where and when it began, so ``archive show``
tells it (:func:`passes_in_store`). The lock's own rule decides when the next pass may
go on: at once on the same machine, whose process is provably gone; from another
machine only once the lock went stale, never on a guess. The next pass's report
names the pass it continued.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from datayard.core.archive.report import Outcome, PassReport, SetReport, store_report
from datayard.core.archive.rules import Rule
from datayard.core.archive.split import Share, shares
from datayard.core.datasets.push import PushOptions, PushResult, push
from datayard.core.datasets.push.engine import NOT_TRAINABLE
from datayard.core.drive import scan as scanning
from datayard.core.drive.inventory import Inventory
from datayard.core.errors import (
    AccessError,
    DatayardError,
    EndpointUnreachableError,
    StoreLockedError,
    UsageError,
)
from datayard.core.events import (
    Cancelled,
    CancelToken,
    Checkpoint,
    Finished,
    Progress,
    Transfer,
    Waiting,
    relay,
)
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import archive_lock_scope
from datayard.core.store.locks import (
    HeldLock,
    Holder,
    Liveness,
    LockTiming,
    Mode,
    acquire,
    list_locks,
    liveness,
    server_time,
)


class PassRunningError(StoreLockedError):
    """Another pass of the rule holds its lock: this one did nothing."""


@dataclass(frozen=True)
class SetDone:
    """One dataset of the pass is done, whatever its outcome."""

    report: SetReport


@dataclass(frozen=True)
class PassInStore:
    """A pass of a rule that the store knows of by its lock alone: it runs, or it ended
    without its report (killed, its machine went down)."""

    key: str
    """Its lock object."""
    holder: Holder | None
    """``None`` when its lock object could not be read."""
    state: Liveness
    refreshed: datetime
    """When its holder last rewrote its lock, by the store's clock."""

    def who(self) -> str:
        """Where and when it began, as "on HOST at TIME (process N)"."""
        if self.holder is None:
            return f"(its lock unreadable, written {self.refreshed:%Y-%m-%d %H:%M} UTC)"
        return f"on {self.holder.host} at {self.holder.started} (process {self.holder.pid})"

    def sentence(self) -> str:
        """What a person should read of it, on one line."""
        if self.state is Liveness.LIVE:
            return f"A pass is running: started {self.who()}."
        if self.state is Liveness.ENDED:
            end = "its process ended without a report (killed?)"
        else:
            end = (
                f"its lock was not refreshed since {self.refreshed:%Y-%m-%d %H:%M} UTC "
                "(killed, or its machine went down)"
            )
        return (
            f"The pass started {self.who()} did not finish: {end}; "
            "what it published stays, and the next pass archives the rest."
        )


def passes_in_store(
    bucket: Bucket, rule_name: str, timing: LockTiming | None = None
) -> list[PassInStore]:
    """The passes of the rule whose lock is in the store, oldest first: the one running,
    and those that ended without releasing it (see the module doc)."""
    locks = sorted(list_locks(bucket, archive_lock_scope(rule_name)), key=lambda x: x.modified)
    if not locks:
        return []
    now = server_time(bucket)
    stale_s = (timing or LockTiming()).stale_s
    return [
        PassInStore(
            lock.key, lock.holder, liveness(lock, server_now=now, stale_s=stale_s), lock.modified
        )
        for lock in locks
    ]


PassEvent = Progress | Transfer | Waiting | SetDone | Finished[PassReport]


def run_pass(
    rule: Rule,
    *,
    bucket: Bucket,
    database: Path,
    owner: str,
    workers: int = 16,
    cancel: CancelToken | None = None,
    timing: LockTiming | None = None,
    checkpoint: Checkpoint | None = None,
) -> Generator[PassEvent, None, None]:
    """Run one pass (see the module doc); its report is stored, then ``Finished(report)``.

    ``owner`` names the datasets of sets at the root itself; ``checkpoint`` hears the
    steps of the pass's lock ("lock-written", ...) and of each push.
    """
    root = Path(rule.root)
    if not root.is_dir():
        raise UsageError(
            f"rule {rule.name}: its root {root} is not a folder here (is the share mounted?)"
        )
    left = [p for p in passes_in_store(bucket, rule.name, timing) if p.state is not Liveness.LIVE]
    held = yield from _take_lock(bucket, rule, timing, checkpoint)
    with held:
        # Taking the lock removed those of ended processes and passed over the stale ones:
        # this pass does their rest and says so once, so their locks go too.
        bucket.remove(p.key for p in left)
        started = datetime.now(UTC)
        clock = time.monotonic()
        done: list[SetReport] = []

        def report(interrupted: str = "") -> PassReport:
            return PassReport(
                rule=rule.name,
                host=socket.gethostname(),
                started=started.isoformat(timespec="seconds"),
                duration_s=round(time.monotonic() - clock, 3),
                sets=tuple(done),
                interrupted=interrupted,
                continued="".join(
                    f"the pass started {p.who()} did not finish; this one took over. " for p in left
                ).strip(),
            )

        inventory = yield from relay(
            scanning.scan(root, database=database, cancel=cancel), Inventory
        )
        try:
            for share in shares(inventory, rule, owner):
                result = yield from _archive(
                    share, rule, bucket, database, workers, cancel, timing, checkpoint
                )
                done.append(result)
                yield SetDone(result)
        except (Cancelled, KeyboardInterrupt):
            store_report(bucket, report("stopped before the end; the next pass does the rest"))
            raise
        final = report()
        store_report(bucket, final)
        yield Finished(final)


def _take_lock(
    bucket: Bucket, rule: Rule, timing: LockTiming | None, checkpoint: Checkpoint | None
) -> Generator[Waiting, None, HeldLock]:
    """The rule's lock, or :class:`PassRunningError` naming the pass that holds it."""
    scope = archive_lock_scope(rule.name)
    try:
        return (
            yield from acquire(
                bucket,
                Mode.EXCLUSIVE,
                f"archive pass of rule {rule.name}",
                scope=scope,
                timing=timing,
                wait=False,
                checkpoint=checkpoint,
            )
        )
    except StoreLockedError:
        running = [
            p.holder
            for p in passes_in_store(bucket, rule.name, timing)
            if p.state is Liveness.LIVE and p.holder
        ]
        where = (
            f" on {running[0].host} since {running[0].started} (process {running[0].pid})"
            if running
            else ""
        )
        raise PassRunningError(
            f"another pass of rule {rule.name} is running{where}; this one did nothing"
        ) from None


def _archive(
    share: Share,
    rule: Rule,
    bucket: Bucket,
    database: Path,
    workers: int,
    cancel: CancelToken | None,
    timing: LockTiming | None,
    checkpoint: Checkpoint | None,
) -> Generator[Progress | Transfer | Waiting, None, SetReport]:
    """Push one dataset; what became of it, a failure included."""
    if share.problem:
        return SetReport(share.folder, share.dataset, Outcome.FAILED.value, reason=share.problem)
    options = PushOptions(
        dataset=share.name,
        owner=share.owner,
        force=True,
        mark_untrainable=True,
        workers=workers,
        message=f"archived by rule {rule.name}",
    )
    result: PushResult | None = None
    try:
        for event in push(
            [share.path],
            options,
            bucket=bucket,
            database=database,
            cancel=cancel,
            timing=timing,
            checkpoint=checkpoint,
            scanned=[share.inventory],
        ):
            if isinstance(event, Finished):
                result = event.result
            elif isinstance(event, Progress | Transfer | Waiting):
                yield event
    except (AccessError, EndpointUnreachableError):
        raise  # every other dataset would meet it too: the pass stops, the next goes on
    except (DatayardError, OSError) as error:
        return SetReport(share.folder, share.dataset, Outcome.FAILED.value, reason=str(error))
    assert result is not None
    return _outcome(share, result)


def _outcome(share: Share, result: PushResult) -> SetReport:
    manifest = result.manifest
    if result.failures or manifest is None:
        first = result.failures[0] if result.failures else None
        reason = f"{len(result.failures)} file(s) failed" + (
            f", first {first.path}: {first.error}" if first else ""
        )
        return SetReport(
            share.folder,
            share.dataset,
            Outcome.FAILED.value,
            sent_bytes=result.sent_bytes,
            reason=reason,
        )
    _, marked, problems = manifest.message.partition(f"{NOT_TRAINABLE}: ")
    return SetReport(
        share.folder,
        share.dataset,
        (Outcome.UNCHANGED if result.unchanged else Outcome.PUSHED).value,
        version=manifest.id,
        files=len(manifest.files),
        sent_bytes=result.sent_bytes,
        trainable=not marked,
        problems=problems,
    )
