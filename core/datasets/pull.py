"""Pulling a dataset version into a folder that Ultralytics trains from as it is.

Each file streams into a temporary name in its final folder, is hashed on the
way, checked against the manifest and only then renamed into place (see
:mod:`datayard.core.atomic`): an interrupted pull never leaves a half-written
file under a real name, and running the same pull again finishes the rest,
keeping the files that already have the right size and sha256. Files the
version does not name are never touched. What was written is remembered in
the scan cache, so checking a large folder again does not read it again; a
label with the class ids read from it by :mod:`datayard.core.drive.labels`,
whatever the manifest says, since another Datayard may have written that.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import yaml

from datayard.core.atomic import FLUSH_LATER, atomic_file, flush_to_disk, write_atomically
from datayard.core.datasets.blobs import (
    BlobCorruptError,
    fetch_blob,
    is_per_blob,
    set_aside,
    with_retries,
)
from datayard.core.datasets.manifest import PART_SUFFIX, Manifest, ManifestFile, Role
from datayard.core.drive.scan.hash_cache import CacheKey, Content, HashCache
from datayard.core.drive.scan.hashing import Job, read_content
from datayard.core.errors import DatayardError, StorageError, UsageError
from datayard.core.events import CancelToken, FileFailed, Finished, Throttle, Transfer
from datayard.core.lock_file import LockFile, LockHeldError
from datayard.core.memory_budget import MemoryBudget
from datayard.core.pool import run_parallel
from datayard.core.store.bucket import Bucket
from datayard.core.store.bulk import WHOLE_LIMIT

log = logging.getLogger(__name__)

PHASE_PULLING = "pulling"
DEFAULT_WORKERS = 32
DATA_YAML = "data.yaml"
LOCK_NAME = ".datayard-pull.lock"
"""Held while a pull writes into a folder (two pulls into one folder would collide), and
removed when the pull ends."""
_CACHE_BATCH = 1000


class DestinationError(DatayardError):
    """The destination folder cannot take the files (disk full, no permission)."""


@dataclass(frozen=True)
class PullResult:
    ref: str
    destination: Path
    data_yaml: Path
    files: int
    downloaded: int
    skipped: int
    """Files that were already there with the right content."""
    downloaded_bytes: int
    failures: tuple[FileFailed, ...]
    extra_files: int
    """Files in the folder that the version does not name: left as they were."""

    @property
    def complete(self) -> bool:
        return not self.failures

    def check_complete(self, otherwise: str) -> None:
        """Raise :class:`StorageError` naming the first file that could not be pulled, if
        any; ``otherwise`` says what was not done for it."""
        if self.failures:
            first = self.failures[0]
            raise StorageError(
                f"{len(self.failures)} file(s) of {self.ref} could not be pulled "
                f"(first: {first.path}: {first.error}); {otherwise}"
            )


PullEvent = Transfer | FileFailed | Finished[PullResult]


@dataclass(frozen=True)
class _Outcome:
    file: ManifestFile
    downloaded: bool
    error: str = ""
    learned: tuple[CacheKey, Content] | None = None
    """The file as it now is on disk and its content, when proven: for the scan cache."""


def pull(
    bucket: Bucket,
    manifest: Manifest,
    destination: Path,
    *,
    workers: int = DEFAULT_WORKERS,
    database: Path | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[PullEvent]:
    """Materialise ``manifest`` under ``destination`` with its data.yaml.

    ``bucket`` should have at least ``workers`` connections. ``database`` is
    the local database whose scan cache vouches for files already checked;
    without it every file already present is hashed. A file that cannot be
    fetched intact is reported as a :class:`FileFailed` and the others go on;
    a full disk or refused credentials stop the pull. When ``cancel`` is set,
    files in flight stop at their next chunk, their temporary files are
    removed, and ``Cancelled`` is raised.
    """
    bucket = bucket.heeding(cancel)
    files = manifest.files
    root = destination.expanduser().resolve()
    _make_folder(root)
    with ExitStack() as stack:
        stack.enter_context(_exclusive(root))
        present = _survey(root, files)
        cache = stack.enter_context(HashCache(database)) if database else None
        proven = _proven_by_cache(cache, root, files, present) if cache else set()
        learned: list[tuple[CacheKey, Content]] = []
        unflushed = 0

        def settle() -> None:
            """Bring the files written so far to the disk, then let the cache vouch for
            them: it must never vouch for a file that a power cut could still take back."""
            nonlocal unflushed
            if unflushed and FLUSH_LATER:
                flush_to_disk(root)
            unflushed = 0
            if cache and learned:
                cache.store(learned)
                learned.clear()

        stack.callback(settle)
        writer = _Writer(bucket, root, proven, present, cancel)

        done = downloaded = skipped = done_bytes = downloaded_bytes = 0
        total_bytes = sum(f.size for f in files)
        failures: list[FileFailed] = []
        throttle = Throttle()
        started = time.monotonic()

        def progress(current: str = "") -> Transfer:
            elapsed = time.monotonic() - started
            return Transfer(
                PHASE_PULLING, done, len(files), done_bytes, total_bytes, elapsed, current
            )

        yield progress()
        for outcome in run_parallel(
            writer.ensure, files, workers=workers, cancel=cancel, name="pull"
        ):
            done += 1
            done_bytes += outcome.file.size
            if outcome.error:
                failures.append(FileFailed(outcome.file.path, outcome.error))
                yield failures[-1]
            elif outcome.downloaded:
                downloaded += 1
                unflushed += 1
                downloaded_bytes += outcome.file.size
            else:
                skipped += 1
            if cache and outcome.learned:
                learned.append(outcome.learned)
                if len(learned) >= _CACHE_BATCH:
                    settle()
            if throttle.due():
                yield progress(outcome.file.path)
        settle()
        yield progress()
        data_yaml = _write_data_yaml(root, manifest)
        extra = _count_extra(root, files)
    log.info("pulled %s into %s: %d downloaded, %d kept", manifest.ref, root, downloaded, skipped)
    yield Finished(
        PullResult(
            ref=manifest.ref,
            destination=root,
            data_yaml=data_yaml,
            files=len(files),
            downloaded=downloaded,
            skipped=skipped,
            downloaded_bytes=downloaded_bytes,
            failures=tuple(failures),
            extra_files=extra,
        )
    )


class _Writer:
    """Brings one file of the version into place; runs in the pool's threads."""

    def __init__(
        self,
        bucket: Bucket,
        root: Path,
        proven: set[str],
        present: dict[str, os.stat_result],
        cancel: CancelToken | None,
    ) -> None:
        self.bucket = bucket
        self.root = root
        self.proven = proven
        self.present = present
        self.cancel = cancel
        self.budget = MemoryBudget()
        """A file up to :data:`WHOLE_LIMIT` comes in one piece, held until written."""

    def ensure(self, file: ManifestFile) -> _Outcome:
        if file.path in self.proven:
            return _Outcome(file, downloaded=False)
        target = self.root / file.path
        if file.path in self.present:
            present = self._present(file, target)
            if present is not None:
                return _Outcome(file, downloaded=False, learned=present)
        try:
            written = self._download(file, target)
        except StorageError as error:
            if not is_per_blob(error):
                raise
            message = str(error)
            if isinstance(error, BlobCorruptError):
                message = f"{message}; {set_aside(self.bucket, error)}"
            log.info("%s: %s", file.path, message)
            return _Outcome(file, downloaded=False, error=message)
        if file.role is Role.LABEL:
            # Read back: the class ids the scan cache learns come from the label
            # rules of this Datayard, not from whoever wrote the manifest.
            return _Outcome(file, downloaded=True, learned=self._present(file, target))
        return _Outcome(file, downloaded=True, learned=(written, Content(file.sha256)))

    def _present(self, file: ManifestFile, target: Path) -> tuple[CacheKey, Content] | None:
        """The file already there and its content, if it is the version's."""
        try:
            info = os.stat(target)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_size != file.size:
            return None
        key = CacheKey(str(target), info.st_size, info.st_mtime_ns)
        job = Job(file.path, key, parse_labels=file.role is Role.LABEL)
        outcome = read_content(job, self.cancel)
        if outcome.content is None or outcome.content.sha256 != file.sha256:
            return None
        return (key, outcome.content) if outcome.stable else None

    def _download(self, file: ManifestFile, target: Path) -> CacheKey:
        try:
            with (
                self.budget.held(min(file.size, WHOLE_LIMIT)),
                atomic_file(target, suffix=PART_SUFFIX, durable=not FLUSH_LATER) as out,
            ):
                tries = 0

                def attempt() -> None:
                    nonlocal tries
                    tries += 1
                    if tries > 1:  # what an earlier try wrote goes
                        out.seek(0)
                        out.truncate()
                    fetch_blob(self.bucket, file.sha256, file.size, out.write, self.cancel)

                with_retries(attempt, file.path, self.cancel)
            info = os.stat(target)
        except OSError as error:
            raise _local_error(error, target, self.root) from error
        return CacheKey(str(target), info.st_size, info.st_mtime_ns)


def _make_folder(root: Path) -> None:
    """Create the destination, or say why it cannot be: a file there, no permission."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{root} is a file; pull into a folder") from None
    except OSError as error:
        raise _local_error(error, root, root) from error


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    lock = LockFile(root / LOCK_NAME)
    try:
        lock.acquire()
    except LockHeldError:
        raise UsageError(
            f"another pull is writing into {root}; wait for it to finish or pull elsewhere"
        ) from None
    except OSError as error:
        raise _local_error(error, root, root) from error
    try:
        yield
    finally:
        lock.release()


def _survey(root: Path, files: Sequence[ManifestFile]) -> dict[str, os.stat_result]:
    """Make the version's folders, delete the temporary files a killed pull left in them,
    and say which of the version's files are there: one listing per folder, where a
    look at each file cost a call per file even into an empty folder."""
    named = {f.path for f in files}
    present: dict[str, os.stat_result] = {}
    for folder in sorted({root, *((root / f.path).parent for f in files)}):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _local_error(error, folder, root) from error
        prefix = "" if folder == root else f"{folder.relative_to(root).as_posix()}/"
        with suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith(PART_SUFFIX) and entry.is_file(follow_symlinks=False):
                    log.info("removing %s, left by an interrupted pull", entry.path)
                    os.unlink(entry.path)
                elif f"{prefix}{entry.name}" in named and entry.is_file():
                    with suppress(OSError):
                        present[f"{prefix}{entry.name}"] = entry.stat()
    return present


def _proven_by_cache(
    cache: HashCache,
    root: Path,
    files: Sequence[ManifestFile],
    present: dict[str, os.stat_result],
) -> set[str]:
    """Paths whose file the cache knows to have the right content, unchanged since."""
    candidates: dict[CacheKey, ManifestFile] = {}
    for file in files:
        info = present.get(file.path)
        if info is not None and info.st_size == file.size:
            candidates[CacheKey(str(root / file.path), info.st_size, info.st_mtime_ns)] = file
    known = cache.lookup(list(candidates))
    return {
        candidates[key].path
        for key, content in known.items()
        if content.sha256 == candidates[key].sha256
    }


def _local_error(error: OSError, path: Path, root: Path) -> DestinationError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DestinationError(
            f"the disk holding {root} is full (writing {path.name}): free some space and "
            "run the same pull again; the files already pulled are kept"
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DestinationError(
            f"cannot write {path}: {error.strerror}; pull into a folder you can write to"
        )
    return DestinationError(f"cannot write {path}: {error.strerror or error}")


def _data_yaml_text(root: Path, manifest: Manifest) -> str:
    """Ultralytics' dataset file; a version without a val split validates on train."""
    splits = sorted(manifest.split_counts())
    train = "train" if "train" in splits or not splits else splits[0]
    data: dict[str, object] = {
        "path": str(root),
        "train": f"images/{train}",
        "val": f"images/{'val' if 'val' in splits else train}",
    }
    if "test" in splits:
        data["test"] = "images/test"
    data["names"] = dict(enumerate(manifest.class_names))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _write_data_yaml(root: Path, manifest: Manifest) -> Path:
    target = root / DATA_YAML
    try:
        write_atomically(target, _data_yaml_text(root, manifest).encode(), suffix=PART_SUFFIX)
    except OSError as error:
        raise _local_error(error, target, root) from error
    return target


def _count_extra(root: Path, files: Sequence[ManifestFile]) -> int:
    named = {f.path for f in files} | {DATA_YAML, LOCK_NAME}
    extra = 0
    for folder, _, names in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        extra += sum(1 for name in names if f"{prefix}{name}" not in named)
    return extra
