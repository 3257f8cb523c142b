"""A lock file that is gone once released, and still excludes a second holder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datayard.core import lock_file
from datayard.core.lock_file import LockFile, LockHeldError


def test_a_second_holder_is_refused_and_the_file_is_gone_after(tmp_path: Path) -> None:
    path = tmp_path / "folder.lock"
    first, second = LockFile(path), LockFile(path)

    first.acquire()
    with pytest.raises(LockHeldError):
        second.acquire()
    first.release()

    assert not path.exists()
    second.acquire()  # free again
    second.release()


def test_a_file_removed_by_its_holder_is_no_lock(tmp_path: Path) -> None:
    """The race of removing lock files: a process opens the file just before its holder
    removes it, and locks it after. Its lock must not count, or a third process making a
    new file at the path would hold the lock at the same time."""
    path = tmp_path / "folder.lock"
    holder = LockFile(path)
    holder.acquire()
    opened_late = os.open(path, os.O_RDWR)
    holder.release()

    assert lock_file._locked_file(opened_late, path) is None

    third, fourth = LockFile(path), LockFile(path)
    third.acquire()
    with pytest.raises(LockHeldError):
        fourth.acquire()
    third.release()
