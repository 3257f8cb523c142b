"""The push operation: scan, check, upload what the store lacks, publish the version.

Order matters for safety: blobs first, each complete before it counts as stored;
the manifest last, so a version never names a blob that is not there, and only
once the check has passed: the check runs beside the uploads (see
:mod:`.check_beside`), and a push it refuses publishes nothing. From
before it asks the store what it has until it has published, a push holds a
shared lock on the store, which keeps gc out (see
:mod:`datayard.core.store.locks`); a push that meets a running gc waits for it
and says so. A marker object under ``pushes/`` lists the blobs of the push, so
that gc keeps what an interrupted push uploaded until it is resumed. If the
lock could not be kept fresh (a suspended machine), the push takes it again
and checks every blob with the store once more before it publishes.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from datayard.core.datasets.catalog import Catalog, DatasetRef
from datayard.core.datasets.manifest import MAX_MESSAGE, Manifest, ManifestFile, new_version_id
from datayard.core.datasets.push.check_beside import CheckBeside
from datayard.core.datasets.push.journal import Journal
from datayard.core.datasets.push.plan import Plan, PlannedFile, SplitMode, plan
from datayard.core.datasets.push.upload import Uploaded, upload_blob
from datayard.core.drive import check as checking
from datayard.core.drive import scan as scanning
from datayard.core.drive.check import CheckReport
from datayard.core.drive.inventory import Inventory
from datayard.core.errors import (
    AccessError,
    DatayardError,
    EndpointUnreachableError,
    LockLostError,
    UsageError,
)
from datayard.core.events import (
    CancelToken,
    Checkpoint,
    FileFailed,
    Finished,
    Progress,
    Throttle,
    Transfer,
    Waiting,
    check_cancel,
    relay,
)
from datayard.core.memory_budget import DEFAULT_BUDGET, MemoryBudget
from datayard.core.pool import Crew, Ended, helper_pool
from datayard.core.store.bucket import Bucket
from datayard.core.store.layout import BLOBS, blob_generation, blob_key, push_marker_key
from datayard.core.store.locks import HeldLock, LockTiming, Mode, acquire

log = logging.getLogger(__name__)

MiB = 1 << 20
MIN_PART_SIZE = 5 * MiB
"""S3 refuses smaller parts (except the last one of an upload)."""
_CONFIRM_ATTEMPTS = 3
"""Times a push whose lock went stale checks the store again before it gives up."""
_REMEMBER_BATCH = 500


class CheckFailedError(DatayardError):
    """The folders have problems that would break training; no version was published.

    Files may have been sent meanwhile: the next push, once they are fixed, finds
    them stored, and gc collects what no version names."""

    def __init__(self, reports: Sequence[CheckReport]) -> None:
        errors = sum(r.counts[checking.Severity.ERROR] for r in reports)
        super().__init__(
            f"the check found {errors} blocking problem(s): fix them, or push anyway with --force"
        )
        self.reports = tuple(reports)

    def __reduce__(self) -> tuple[type[CheckFailedError], tuple[tuple[CheckReport, ...]]]:
        """Rebuilt from its reports: it crosses from the push's process to the app's."""
        return (CheckFailedError, (self.reports,))


@dataclass(frozen=True)
class PushOptions:
    dataset: str
    owner: str
    split: SplitMode = SplitMode.AUTO
    force: bool = False
    workers: int = 32
    """Files uploaded at once; the HTTP pool is sized to match."""
    memory: int = DEFAULT_BUDGET
    """Bytes of file contents held at once by all the uploads (:mod:`.memory_budget`)."""
    part_size: int = 16 * MiB
    """Files larger than this are sent in parts of this size, resumable part by part."""
    parallel_parts: int = 4
    include_hidden: bool = False
    message: str = ""
    """The version's message (:func:`.manifest.check_message`)."""
    mark_untrainable: bool = False
    """With ``force``: a version published past blocking problems says so in its message
    (:func:`untrainable_message`), so that whoever reads it later knows before training."""

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise UsageError("the part size must be at least 5 MiB (the S3 minimum)")
        if self.workers < 1 or self.parallel_parts < 1:
            raise UsageError("workers and parallel parts must be at least 1")


@dataclass(frozen=True)
class PushPlanned:
    """What the push will do, once it knows what the store already has."""

    dataset: str
    files: int
    bytes: int
    blobs: int
    new_blobs: int
    new_bytes: int


@dataclass(frozen=True)
class PushResult:
    dataset: str
    manifest: Manifest | None
    """The published version; ``None`` when files failed or nothing changed."""
    unchanged: bool = False
    uploaded_blobs: int = 0
    sent_bytes: int = 0
    failures: tuple[FileFailed, ...] = ()
    changed_files: tuple[str, ...] = ()
    reports: tuple[CheckReport, ...] = field(default=(), repr=False)


PushEvent = Progress | Transfer | PushPlanned | FileFailed | Waiting | Finished[PushResult]


def store_id(bucket: Bucket) -> str:
    return f"{bucket.profile.endpoint}/{bucket.name}"


def push(
    paths: Sequence[Path],
    options: PushOptions,
    *,
    bucket: Bucket,
    database: Path,
    cancel: CancelToken | None = None,
    timing: LockTiming | None = None,
    checkpoint: Checkpoint | None = None,
    scanned: Sequence[Inventory] | None = None,
) -> Generator[PushEvent, None, None]:
    """Push folders as a new version of ``owner/dataset``; see the module doc.

    ``timing`` tunes the store lock; ``checkpoint`` hears each step of the
    protocol with the store ("marker-written", "store-checked", "uploaded",
    "published", and the lock's own). ``scanned`` are the inventories of ``paths``
    when the caller has them already (an archive pass scans its root once and gives
    each dataset its share), so they are not scanned again.
    """
    bucket = bucket.heeding(cancel)
    ref = DatasetRef.parse(f"{options.owner}/{options.dataset}", options.owner)
    if scanned is None:
        inventories = yield from scan_each(
            paths, database=database, include_hidden=options.include_hidden, cancel=cancel
        )
    else:
        inventories = list(scanned)
    catalog = Catalog(bucket)
    latest = catalog.newest(ref.owner, ref.name)
    early = _plan_if_possible(inventories, options.split)
    journal = Journal(database, store_id(bucket))
    beside: CheckBeside | None = None
    try:
        reports: Sequence[CheckReport] | CheckBeside
        if latest is not None and early is not None and same_content(latest, early):
            # Nothing will be published, and the check only guards what is published: the
            # same content passed it (or was forced) when the latest version was pushed.
            # Skipping it makes a no-op push cost a cached scan, one manifest read and the
            # blob generation. Blobs of the version that went missing (set aside as
            # damaged) are sent again, which restores it.
            journal.check_generation(blob_generation(bucket))
            if not missing_blobs(bucket, journal, early, options.workers):
                yield Finished(PushResult(str(ref), latest, unchanged=True))
                return
            restoring, planned, reports = latest, early, []
        elif early is not None:
            del latest  # a 100k-file manifest is tens of MB
            beside = CheckBeside(inventories, database)
            restoring, planned, reports = None, early, beside
        else:  # no plan: only the check can say why (see _plan_if_possible)
            del latest
            reports = yield from check_each(inventories, database=database, cancel=cancel)
            _refuse_if_blocked(reports, options.force)
            restoring, planned = None, plan(inventories, options.split)
        del inventories, early  # the plan has what the upload needs; a 100k-file scan is ~80 MB
        yield from planned.unreadable
        push_id = uuid.uuid4().hex
        sources = tuple(str(p.resolve()) for p in paths)
        journal.begin_push(
            push_id,
            {
                "paths": list(sources),
                "dataset": options.dataset,
                "owner": options.owner,
                "profile": bucket.profile.name,
                "split": options.split.value,
                "force": options.force,
                "message": options.message,
            },
        )
        held = yield from acquire(
            bucket,
            Mode.SHARED,
            f"push of {ref}",
            timing=timing,
            cancel=cancel,
            checkpoint=checkpoint,
        )
        with held:
            session = _Session(
                ref, push_id, bucket, journal, options, held, timing, cancel, checkpoint
            )
            yield from session.run(planned, reports, sources, restoring)
    finally:
        if beside is not None:
            beside.close()
        journal.close()


NOT_TRAINABLE = "not trainable"
"""How a version's message starts its note of the blocking problems it was published with."""


def untrainable_message(message: str, reports: Sequence[CheckReport]) -> str:
    """``message`` with the blocking problems that the version was forced past, counted by
    kind; cut to the longest message a version keeps."""
    counted: dict[str, int] = {}
    for report in reports:
        for group in report.groups:
            if group.severity is checking.Severity.ERROR:
                heading = group.kind.heading
                counted[heading] = counted.get(heading, 0) + len(group.findings)
    kinds = ", ".join(f"{heading} ({n})" for heading, n in counted.items())
    note = f"{NOT_TRAINABLE}: {sum(counted.values())} blocking problem(s): {kinds}"
    text = f"{message}; {note}" if message else note
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _refuse_if_blocked(reports: Sequence[CheckReport], force: bool) -> None:
    if not force and not all(report.trainable for report in reports):
        raise CheckFailedError(reports)


@dataclass
class _Session:
    """What a push does while it holds its lock: from the marker to the published version."""

    ref: DatasetRef
    push_id: str
    bucket: Bucket
    journal: Journal
    options: PushOptions
    held: HeldLock
    timing: LockTiming | None
    cancel: CancelToken | None
    checkpoint: Checkpoint | None

    def step(self, name: str) -> None:
        if self.checkpoint is not None:
            self.checkpoint(name)

    def run(
        self,
        planned: Plan,
        checked: Sequence[CheckReport] | CheckBeside,
        sources: tuple[str, ...],
        restoring: Manifest | None,
    ) -> Generator[PushEvent, None, None]:
        """Store the planned files, then publish them once the check (``checked``: its
        reports, or the check still running beside) lets them; with ``restoring``, only
        restore the blobs that version lost (its files are the planned ones)."""
        # The marker goes first: from now on gc keeps every blob this push counts on,
        # including those it finds already stored and will not send, even if the
        # push is interrupted and resumed later.
        marker = push_marker_key(self.push_id)
        self.bucket.put_bytes(marker, _marker(planned.blobs), content_type="application/json")
        self.step("marker-written")
        missing = self.missing(planned)
        self.step("store-checked")
        yield PushPlanned(
            dataset=str(self.ref),
            files=len(planned.files),
            bytes=sum(f.entry.size for f in planned.files),
            blobs=len(planned.blobs),
            new_blobs=len(missing),
            new_bytes=sum(planned.blobs[sha].entry.size for sha in missing),
        )
        sender = _Sender(self.bucket, self.journal, self.options, self.cancel)
        files = yield from self.store(sender, planned, missing)
        changed = tuple(f.path for f, p in zip(files, planned.files, strict=True) if f != p.entry)
        if restoring is not None:
            sender.failures += [
                FileFailed(path, f"changed since {restoring.ref} was pushed; push again")
                for path in changed
            ]
        if isinstance(checked, CheckBeside):
            reports = yield from checked.reports(self.cancel)
            try:
                _refuse_if_blocked(reports, self.options.force)
            except CheckFailedError:
                # As a failed push: its marker keeps what it sent for the push after a fix.
                self.journal.end_push(self.push_id, "failed")
                raise
        else:
            reports = list(checked)
        failures = (*planned.unreadable, *sender.failures)
        if failures:
            self.journal.end_push(self.push_id, "failed")
            yield Finished(
                PushResult(
                    str(self.ref),
                    None,
                    uploaded_blobs=sender.uploaded,
                    sent_bytes=sender.sent,
                    failures=failures,
                    reports=tuple(reports),
                )
            )
            return
        manifest = restoring or Catalog(self.bucket).publish(
            Manifest(
                id=new_version_id(files),
                owner=self.ref.owner,
                name=self.ref.name,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                pushed_by=f"{self.options.owner}@{socket.gethostname()}",
                source_host=socket.gethostname(),
                source_paths=sources,
                class_names=planned.class_names,
                files=files,
                message=self._message(reports),
            ),
            timing=self.timing,
            checkpoint=self.checkpoint,
        )
        self.step("published")
        superseded = self.journal.end_push(self.push_id, "done", manifest.id)
        self.bucket.remove([marker, *(push_marker_key(old) for old in superseded)])
        yield Finished(
            PushResult(
                str(self.ref),
                manifest,
                unchanged=restoring is not None,
                uploaded_blobs=sender.uploaded,
                sent_bytes=sender.sent,
                changed_files=changed,
                reports=tuple(reports),
            )
        )

    def _message(self, reports: Sequence[CheckReport]) -> str:
        if self.options.mark_untrainable and not all(r.trainable for r in reports):
            return untrainable_message(self.options.message, reports)
        return self.options.message

    def missing(self, planned: Plan) -> list[str]:
        """The planned blobs the store lacks; the index is forgotten if a gc ran since."""
        self.journal.check_generation(blob_generation(self.bucket))
        return missing_blobs(self.bucket, self.journal, planned, self.options.workers)

    def store(
        self, sender: _Sender, planned: Plan, missing: Sequence[str]
    ) -> Generator[Transfer | FileFailed | Waiting, None, tuple[ManifestFile, ...]]:
        """Upload what is missing; the files as stored, once the lock vouches for them all.

        If the lock went stale meanwhile, a gc may have deleted blobs this push
        counted: the push waits for it, then asks the store again about every
        blob and sends what went missing.
        """
        marker = push_marker_key(self.push_id)
        for attempt in range(1, _CONFIRM_ATTEMPTS + 1):
            uploaded = yield from sender.run(planned, missing)
            files = tuple(_actual(f.entry, uploaded.get(f.entry.source)) for f in planned.files)
            if sender.failures:
                return files
            if any(f.sha256 not in planned.blobs for f in files):
                # Files changed while pushed were stored under new hashes: keep those too.
                contents = {f.sha256 for f in files} | set(planned.blobs)
                self.bucket.put_bytes(marker, _marker(contents), content_type="application/json")
            self.step("uploaded")
            try:
                self.held.ensure_fresh()
                return files
            except LockLostError as error:
                if attempt == _CONFIRM_ATTEMPTS:
                    raise
                log.warning("%s; taking it again and checking the store once more", error)
            yield from self.held.regain(cancel=self.cancel)
            planned = Plan(tuple(PlannedFile(f) for f in files), planned.class_names)
            missing = self.missing(planned)
        raise AssertionError("unreachable")


def scan_and_check(
    paths: Sequence[Path],
    *,
    database: Path,
    include_hidden: bool = False,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, tuple[list[Inventory], list[CheckReport]]]:
    """Each folder's inventory and check report: what a push, or its preview, starts from."""
    inventories = yield from scan_each(
        paths, database=database, include_hidden=include_hidden, cancel=cancel
    )
    reports = yield from check_each(inventories, database=database, cancel=cancel)
    return inventories, reports


def scan_each(
    paths: Sequence[Path],
    *,
    database: Path,
    include_hidden: bool = False,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, list[Inventory]]:
    inventories: list[Inventory] = []
    for path in paths:
        events = scanning.scan(
            path, database=database, include_hidden=include_hidden, cancel=cancel
        )
        inventories.append((yield from relay(events, Inventory)))
    return inventories


def check_each(
    inventories: Sequence[Inventory], *, database: Path, cancel: CancelToken | None = None
) -> Generator[Progress, None, list[CheckReport]]:
    reports: list[CheckReport] = []
    for inventory in inventories:
        events = checking.check(inventory, cancel=cancel, database=database)
        reports.append((yield from relay(events, CheckReport)))
    return reports


def _plan_if_possible(inventories: Sequence[Inventory], split: SplitMode) -> Plan | None:
    """The plan, or ``None`` where only the check can explain why there is none.

    Conflicting class names have no plan: the check reports them better than the
    plan's own error, so it must run first.
    """
    try:
        return plan(inventories, split)
    except UsageError:
        return None


def same_content(latest: Manifest, planned: Plan) -> bool:
    """Whether ``planned`` would publish ``latest`` again; never while files of it are
    unreadable: its push fails on them, and the check says why."""
    if planned.unreadable:
        return False
    before = {(f.path, f.sha256) for f in latest.files}
    return before == {(f.entry.path, f.entry.sha256) for f in planned.files} and (
        latest.class_names == planned.class_names
    )


HEADS_PER_PREFIX = 2
"""Blobs to ask about one by one rather than list their prefix, per prefix: listing costs at
least a request and reads every blob there, thousands in a large store."""
ONE_PAGE = 1000
"""Keys in one page of a listing (S3's largest): a store holding no more blobs than this is
listed whole, in one request."""


def missing_blobs(bucket: Bucket, journal: Journal, planned: Plan, workers: int) -> list[str]:
    """Blobs the store lacks, asking it only about those the local index cannot vouch for.

    Many unknown blobs (a first push) are found by listing: the whole of
    ``blobs/`` when it fits in one page (a new or small store: one request
    where its 256 prefixes took 256), else their prefixes
    ``blobs/sha256/<xx>/``, one request per 1000 blobs. A few (a push after
    some files changed) are asked about by a HEAD each, which does not read the
    thousands of other blobs their prefixes hold. Prefixes and HEADs run in
    parallel.
    """
    needed = planned.blobs
    unknown = set(needed) - journal.known(needed)
    prefixes = sorted({sha[:2] for sha in unknown})

    def settle(found: list[tuple[str, int]]) -> None:
        journal.remember(found)
        unknown.difference_update(
            sha for sha, size in found if sha in needed and size == needed[sha].entry.size
        )

    whole = None
    if len(unknown) <= HEADS_PER_PREFIX * len(prefixes):
        asked, ask = sorted(unknown), partial(_stored_blob, bucket)
    else:
        asked, ask = prefixes, partial(_listed_blobs, bucket)
        whole = _all_blobs_in_one_page(bucket)
    if whole is not None:
        settle(whole)
    else:
        with helper_pool(min(workers, len(asked)), "blob-listing") as pool:
            for found in pool.map(ask, asked):
                settle(found)
    return sorted(unknown, key=lambda sha: needed[sha].entry.size, reverse=True)


def _all_blobs_in_one_page(bucket: Bucket) -> list[tuple[str, int]] | None:
    """Every blob of the store, when they fit in one page of a listing; else ``None``
    (having read a second page at most)."""
    listed = list(itertools.islice(_blobs(bucket, BLOBS), ONE_PAGE + 1))
    return listed if len(listed) <= ONE_PAGE else None


def _listed_blobs(bucket: Bucket, prefix: str) -> list[tuple[str, int]]:
    return list(_blobs(bucket, f"{BLOBS}{prefix}/"))


def _blobs(bucket: Bucket, prefix: str) -> Iterator[tuple[str, int]]:
    return ((item.key.rsplit("/", 1)[1], item.size) for item in bucket.objects(prefix))


def _stored_blob(bucket: Bucket, sha256: str) -> list[tuple[str, int]]:
    stored = bucket.stat(blob_key(sha256))
    return [] if stored is None else [(sha256, stored.size)]


def _marker(blobs: Iterable[str]) -> bytes:
    return json.dumps(
        {
            "blobs": sorted(blobs),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
        }
    ).encode()


_Blob = tuple[str, list[PlannedFile]]
"""A missing blob and the files that hold it, in the order they are tried."""
_Sent = list[tuple[PlannedFile, Uploaded | DatayardError | OSError]]
"""What became of each file sent for a blob."""


def _actual(entry: ManifestFile, uploaded: Uploaded | None) -> ManifestFile:
    """The entry as stored: a file that changed since the scan has its new content."""
    if uploaded is None or uploaded.sha256 == entry.sha256:
        return entry
    return replace(entry, sha256=uploaded.sha256, size=uploaded.size)


class _Sender:
    """Uploads the missing blobs in a bounded pool, reporting progress as it goes."""

    def __init__(
        self, bucket: Bucket, journal: Journal, options: PushOptions, cancel: CancelToken | None
    ) -> None:
        self.journal = journal
        self.options = options
        self.cancel = cancel
        self.stop = threading.Event()
        """Set when the push stops, cancelled or failed: the uploads in flight end at their
        next chunk or wait. The caller's token is left as it is: releasing the lock and
        what else comes after an error still get their tries."""
        self.bucket = bucket.heeding(self.stop)
        self.failures: list[FileFailed] = []
        self.uploaded = 0
        self.sent = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self._stored: list[tuple[str, int]] = []
        self.budget = MemoryBudget(options.memory)

    def _count(self, size: int) -> None:
        with self._lock:
            self._bytes += size

    def _send(self, planned: PlannedFile, parts_pool: ThreadPoolExecutor) -> Uploaded:
        """Upload one file; the bucket tries each of its requests again as it may."""
        counted = 0

        def count(size: int) -> None:
            nonlocal counted
            counted += size
            self._count(size)

        try:
            return upload_blob(
                self.bucket,
                self.journal,
                planned.local,
                part_size=self.options.part_size,
                parts_pool=parts_pool,
                parallel_parts=self.options.parallel_parts,
                on_bytes=count,
                expected_sha256=planned.entry.sha256,
                cancel=self.stop,
                budget=self.budget,
            )
        except BaseException:
            self._count(-counted)  # the bar shows what is stored, not what was tried
            raise

    def run(
        self, planned: Plan, missing: Sequence[str]
    ) -> Generator[Transfer | FileFailed, None, dict[str, Uploaded]]:
        by_sha: dict[str, list[PlannedFile]] = {}
        for f in planned.files:
            by_sha.setdefault(f.entry.sha256, []).append(f)
        total_bytes = sum(by_sha[sha][0].entry.size for sha in missing)
        uploaded: dict[str, Uploaded] = {}
        started = time.monotonic()
        throttle = Throttle()
        with (
            helper_pool(self.options.workers, "part") as parts_pool,
            Crew(
                partial(self._send_blob, parts_pool=parts_pool),
                ((sha, by_sha[sha]) for sha in missing),
                workers=self.options.workers,
                name="push",
                cancel=self.cancel,
                stop=self.stop,
            ) as crew,
        ):
            try:
                while crew.working:
                    if self.cancel is not None and self.cancel.is_set():
                        self.stop.set()
                    for ended in crew.ended():
                        yield from self._settle(ended, uploaded)
                    if len(self._stored) >= _REMEMBER_BATCH:
                        self._remember()
                    if throttle.due() or not crew.working:
                        yield Transfer(
                            "uploading",
                            self.uploaded + len(self.failures),
                            len(missing),
                            self._bytes,
                            total_bytes,
                            time.monotonic() - started,
                        )
                if not crew.exhausted:  # cancelled, whether or not this thread saw it yet
                    self.stop.set()
                check_cancel(self.stop)
            except BaseException:
                self.stop.set()
                raise
            finally:
                self._remember()
        return uploaded

    def _send_blob(self, blob: _Blob, parts_pool: ThreadPoolExecutor) -> _Sent:
        """Store one missing blob from the first of its files, and from the next if that
        one changed since the scan (it is then stored as read, under its new hash);
        what became of each file sent."""
        sha, candidates = blob
        sent: _Sent = []
        for candidate in candidates:
            if sent:
                check_cancel(self.stop)
            try:
                result = self._send(candidate, parts_pool)
            except (AccessError, EndpointUnreachableError):
                raise  # retried already: the store is down or refuses us; the push stops
            except (DatayardError, OSError) as error:
                sent.append((candidate, error))
                break
            sent.append((candidate, result))
            if result.sha256 == sha:
                break
        return sent

    def _remember(self) -> None:
        """Record stored blobs in the journal, many per transaction.

        One transaction per file cost more than the rest of the bookkeeping; a
        crash loses at most one batch, which the next push finds by listing.
        """
        if self._stored:
            self.journal.remember(self._stored)
            self._stored = []

    def _settle(
        self, ended: Ended[_Blob, _Sent], uploaded: dict[str, Uploaded]
    ) -> Iterator[FileFailed]:
        """Count what became of the files sent for a blob; the failures, as events."""
        if ended.error is not None:
            raise ended.error
        for candidate, outcome in ended.result or ():
            if isinstance(outcome, Uploaded):
                self._stored.append((outcome.sha256, outcome.size))
                if outcome.sha256 != candidate.entry.sha256:
                    uploaded[candidate.entry.source] = outcome  # only what differs from the plan
                self.uploaded += 1
                self.sent += outcome.sent
                continue
            message = (
                outcome.strerror
                if isinstance(outcome, OSError) and outcome.strerror
                else str(outcome)
            )
            # Counted, not only reported: a version must not name a blob that was not stored.
            self.failures.append(FileFailed(candidate.entry.path, message))
            yield self.failures[-1]
