"""This computer's shell, as the host checks and set-up use a host's over SSH."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import pytest

from datayard.core.errors import UsageError
from datayard.core.events import Cancelled, CancelToken
from datayard.core.hosts.local import LocalShell, this_computer
from tests.fixtures.waits import until


def test_a_command_gets_its_input_and_gives_its_output_and_status() -> None:
    with LocalShell() as shell:
        done = shell.run('read line; echo "got $line"; echo oops >&2; exit 3', input="x\n")
        missing = shell.run("/no/such/python -c pass")

    assert (done.exit_status, done.stdout, done.stderr) == (3, "got x\n", "oops\n")
    assert missing.exit_status == 127 and "not found" in missing.stderr


def test_lines_come_as_they_are_written_and_a_cancel_ends_what_the_command_started(
    tmp_path: Path,
) -> None:
    release = tmp_path / "release"
    cancel = CancelToken()
    lines = LocalShell().lines(
        f"sleep 600 & echo $!; while [ ! -e {release} ]; do sleep 0.05; done; echo two; wait",
        cancel=cancel,
    )
    sleeper = psutil.Process(int(next(lines)))  # the first line, while the command runs on
    release.touch()
    assert next(lines) == "two"

    cancel.set()
    with pytest.raises(Cancelled):
        next(lines)
    assert until(lambda: not sleeper.is_running() or sleeper.status() == psutil.STATUS_ZOMBIE)


def test_a_silent_command_is_cancelled_without_waiting_for_a_line() -> None:
    cancel = CancelToken()
    lines = LocalShell().lines("echo started; sleep 600", cancel=cancel)
    assert next(lines) == "started"
    threading.Timer(0.2, cancel.set).start()

    with pytest.raises(Cancelled):
        next(lines)


def test_a_file_is_copied_whole_into_folders_made_for_it(tmp_path: Path) -> None:
    wheel = tmp_path / "datayard.whl"
    wheel.write_bytes(b"PK" + bytes(range(256)) * 64)
    target = tmp_path / "data" / "worker" / "wheels" / "datayard.whl"

    LocalShell().upload(wheel, str(target))

    assert target.read_bytes() == wheel.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["datayard.whl"]


def test_this_computer_takes_only_an_absolute_python() -> None:
    assert this_computer().python == ""
    assert this_computer("/opt/conda/bin/python").python == "/opt/conda/bin/python"
    with pytest.raises(UsageError, match="absolute path"):
        this_computer("python3")
