"""Writing a file so that whoever reads it finds the old content or the new, never a mix.

The new content goes to a temporary file beside the target (the same folder,
so the same file system), is flushed to the disk, and then takes the target's
place in one rename (``os.replace``): a reader in another thread or process,
a crash or a SIGKILL at any moment leaves the whole old file or the whole new
one. A writer that is killed leaves its temporary file behind; the file's
name holds the writer's process id, so the next write of the same target
removes it once that process is gone.
"""

from __future__ import annotations

import ctypes
import functools
import io
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

TEMPORARY_SUFFIX = ".tmp"
_NAME_LIMIT = 100
"""Characters of the target's name kept in the temporary one: short enough for any file system."""
_BINARY = getattr(os, "O_BINARY", 0)
"""Windows translates line endings in files opened without it."""


@contextmanager
def atomic_file(
    target: Path, *, mode: int = 0o666, suffix: str = TEMPORARY_SUFFIX, durable: bool = True
) -> Iterator[BinaryIO]:
    """A new file whose content replaces ``target`` when the block ends without an error.

    If the block raises, ``target`` stays as it was and the temporary file is
    removed. ``mode`` is the new file's permissions before the umask (a
    settings file is private, a pulled image is not). The content reaches
    the disk before the rename, so that a power cut cannot leave an empty
    file under the target's name either; unless ``durable`` is false, for a
    caller that makes many files durable at once (see :func:`flush_to_disk`).
    """
    part = target.with_name(_temporary_name(target.name, suffix))
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, mode)
    try:
        # The buffer size is given: the default asks the file whether it is a terminal.
        with os.fdopen(descriptor, "wb", buffering=io.DEFAULT_BUFFER_SIZE) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(part, target)
    except BaseException:
        with suppress(OSError):
            part.unlink()
        raise


def write_atomically(
    target: Path, data: bytes, *, mode: int = 0o666, suffix: str = TEMPORARY_SUFFIX
) -> None:
    """Replace ``target`` with ``data`` (see :func:`atomic_file`), creating its folder.

    What killed writers of the same target left behind is removed first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target, suffix)
    with atomic_file(target, mode=mode, suffix=suffix) as handle:
        handle.write(data)


def remove_leftovers(target: Path, suffix: str = TEMPORARY_SUFFIX) -> None:
    """Delete the temporary files of ``target`` whose writers are no longer running."""
    import psutil  # not at import: the settings module is read at every start

    pattern = re.compile(
        rf"\.{re.escape(target.name[:_NAME_LIMIT])}\.(\d+)-[0-9a-f]{{8}}{re.escape(suffix)}"
    )
    with suppress(OSError), os.scandir(target.parent) as entries:
        for entry in entries:
            found = pattern.fullmatch(entry.name)
            if found and not psutil.pid_exists(int(found[1])):
                with suppress(OSError):
                    os.unlink(entry.path)


def _temporary_name(name: str, suffix: str) -> str:
    return f".{name[:_NAME_LIMIT]}.{os.getpid()}-{secrets.token_hex(4)}{suffix}"


FLUSH_LATER = hasattr(os, "sync")
"""Whether :func:`flush_to_disk` can make files written without ``durable`` durable later
(Windows has no call for it: there, each file is made durable as it is written)."""


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs``, where there is one (Linux); Python's ``os`` has no binding."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        found: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    return found


def flush_to_disk(folder: Path) -> None:
    """Bring every file written without ``durable`` to the disk: those of ``folder``'s file
    system where the system can say which (Linux's ``syncfs``), else all of them.

    One call after thousands of files costs what one ``fsync`` per file cost
    several times over (0.3 s of a pull of 5,000 small files).
    """
    syncfs = _syncfs()
    if syncfs is None:
        os.sync()
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(descriptor) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(folder))
    finally:
        os.close(descriptor)
