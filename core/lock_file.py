"""A lock held through a file that is removed when the lock is released.

A pull locks the folder it writes into, so that two pulls never write the
same files, and removes the lock file when it ends, so that the folder holds
only what the user pulled. Removing a lock file opens a race: a process that
opened the file just before its holder removed it can then lock the removed
file while a third one creates a new file and locks that, and both would
write. So a lock counts only while the file locked is still the one at the
path; otherwise it is taken again on the new file.

On POSIX the holder removes the file while it still holds the lock. Windows
refuses to remove a file that is open, so there the holder unlocks first and
then removes the file, unless another process has it open, and that process
then holds the file that stays.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from pathlib import Path

if sys.platform == "win32":
    import msvcrt

    def _try_lock(descriptor: int) -> bool:
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(descriptor: int) -> None:
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)

    def _remove_and_unlock(descriptor: int, path: Path) -> None:
        _unlock(descriptor)
        os.close(descriptor)
        with suppress(OSError):  # open in another process, which now holds it
            path.unlink()

else:
    import fcntl

    def _try_lock(descriptor: int) -> bool:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _remove_and_unlock(descriptor: int, path: Path) -> None:
        # Removed while locked: whoever opens the path from now on makes a new file.
        with suppress(OSError):  # already gone, or the folder changed hands: it stays
            path.unlink()
        _unlock(descriptor)
        os.close(descriptor)


class LockHeldError(Exception):
    """Another process holds the lock."""


class LockFile:
    """An exclusive lock through the file at ``path``, created when taken, removed when released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None

    def acquire(self) -> None:
        """Take the lock now, or raise :class:`LockHeldError`; ``OSError`` when no file can be
        made at the path."""
        while self._descriptor is None:
            self._descriptor = _locked_file(
                os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), self.path
            )

    def release(self) -> None:
        if self._descriptor is not None:
            _remove_and_unlock(self._descriptor, self.path)
            self._descriptor = None


def _locked_file(descriptor: int, path: Path) -> int | None:
    """``descriptor``, locked, while it is the file at ``path``; else ``None``, closed.

    Raises :class:`LockHeldError` when another process holds the lock.
    """
    try:
        locked = _try_lock(descriptor)
    except BaseException:
        os.close(descriptor)
        raise
    if not locked:
        os.close(descriptor)
        raise LockHeldError(path)
    if _is_at(descriptor, path):
        return descriptor
    _unlock(descriptor)
    os.close(descriptor)
    return None


def _is_at(descriptor: int, path: Path) -> bool:
    """Whether the open file is the one at ``path`` now: its holder may have removed it."""
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False
