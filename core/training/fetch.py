"""Getting a run's results back: weights, metrics, plots, exports.

The run's folder on this machine is the quickest source; the store has the
same files for runs launched elsewhere (or whose folder was deleted). Either
way the destination gets the same layout: ``weights/best.pt``,
``results.csv``, ``exports/...``, and the run's record as ``run.json``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from datayard.core import schema
from datayard.core.atomic import write_atomically
from datayard.core.errors import InvalidStoreObjectError, UsageError
from datayard.core.store.bucket import Bucket
from datayard.core.training.mirror import artifact_key
from datayard.core.training.runs import RUN_FILE, TRAIN_DIR, RunFolder
from datayard.core.training.stored_runs import stored_record


def fetch_run(
    run_id: str,
    destination: Path,
    *,
    folder: RunFolder | None = None,
    bucket: Bucket | None = None,
) -> list[Path]:
    """Copy the run's results into ``destination``; return the files written."""
    if destination.exists() and not destination.is_dir():
        raise UsageError(f"{destination} is a file; fetch into a folder")
    destination.mkdir(parents=True, exist_ok=True)
    if folder is not None:
        return _from_folder(folder, destination)
    if bucket is None:
        raise UsageError(f"run {run_id} is not on this machine; name a storage profile")
    return _from_store(run_id, bucket, destination)


def _local_name(relative: str) -> str:
    """``train/weights/best.pt`` -> ``weights/best.pt``: Ultralytics' folder is an inside detail."""
    return relative.removeprefix(f"{TRAIN_DIR}/")


def _from_folder(folder: RunFolder, destination: Path) -> list[Path]:
    written = []
    sources = [folder.record_file]
    if folder.train_dir.is_dir():
        sources += sorted(p for p in folder.train_dir.rglob("*") if p.is_file())
    for source in sources:
        relative = source.relative_to(folder.path).as_posix()
        target = destination / _local_name(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written


def _from_store(run_id: str, bucket: Bucket, destination: Path) -> list[Path]:
    """The run's files as the store lists them; all are checked before any is written."""
    prefix = artifact_key(run_id, "")
    files = {key: _local_name(key.removeprefix(prefix)) for key in _keys(bucket, prefix)}
    if not files:
        raise UsageError(f"the store has no results for run {run_id!r}")
    record = stored_record(bucket, run_id)
    written = []
    for key, name in files.items():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        bucket.get_file(key, target)
        written.append(target)
    record_file = destination / RUN_FILE
    write_atomically(record_file, record.to_json().encode())
    written.append(record_file)
    return written


def _keys(bucket: Bucket, prefix: str) -> list[str]:
    """The keys under ``prefix``; each names a file under the destination, so each must
    be a safe relative path there (anyone may have stored ``artifacts/../../x``)."""
    keys = [item.key for item in bucket.objects(prefix)]
    for key in keys:
        problem = schema.path_problem(_local_name(key.removeprefix(prefix)))
        if problem:
            raise InvalidStoreObjectError(key, "", f"cannot be fetched: its path {problem}")
    return keys
