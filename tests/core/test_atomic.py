"""A file written atomically holds the old content or the new, whatever happens to its writer."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from datayard.core.atomic import atomic_file, write_atomically

OLD = b"old content\n" * 100_000
NEW = b"new content\n" * 100_000

_KILLED_MID_WRITE = """
import sys
from pathlib import Path
from datayard.core.atomic import atomic_file

with atomic_file(Path(sys.argv[1])) as out:
    out.write(sys.argv[2].encode() * 1_000_000)
    out.flush()
    print("writing", flush=True)
    sys.stdin.read()  # until killed
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of its own: the test's temporary one also holds its private home."""
    made = tmp_path / "files"
    made.mkdir()
    return made


def test_a_writer_killed_mid_write_leaves_the_old_file_and_the_next_write_cleans_up(
    folder: Path,
) -> None:
    target = folder / "settings.toml"
    target.write_bytes(OLD)
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_MID_WRITE, str(target), "x"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=60)

    left = [path for path in folder.iterdir() if path != target]
    assert len(left) == 1 and left[0].stat().st_size == 1_000_000  # the kill came mid-write
    assert target.read_bytes() == OLD

    write_atomically(target, NEW)
    assert list(folder.iterdir()) == [target]
    assert target.read_bytes() == NEW


def test_a_reader_never_sees_a_partial_file(folder: Path) -> None:
    target = folder / "state.json"
    write_atomically(target, OLD)
    writing = threading.Event()
    seen: list[bytes] = []

    def write() -> None:
        for content in [NEW, OLD] * 50:
            write_atomically(target, content)
        writing.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not writing.is_set():
        seen.append(target.read_bytes())
    writer.join()
    assert {len(content) for content in seen} == {len(OLD)}
    assert set(seen) <= {OLD, NEW}


def test_a_running_writer_keeps_its_file_while_another_writes(folder: Path) -> None:
    target = folder / "control"
    with atomic_file(target) as slow:
        slow.write(b"stop")
        write_atomically(target, b"pause")
        assert target.read_bytes() == b"pause"
    assert target.read_bytes() == b"stop"
    assert list(folder.iterdir()) == [target]


def test_a_failed_write_changes_nothing(folder: Path) -> None:
    target = folder / "data.yaml"
    target.write_bytes(OLD)
    with pytest.raises(ValueError), atomic_file(target) as out:
        out.write(NEW[:1000])
        raise ValueError("the content could not be made")
    assert target.read_bytes() == OLD
    assert list(folder.iterdir()) == [target]
