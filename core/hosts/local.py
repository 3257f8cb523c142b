"""This computer as a training host: its checks and its set-up, with no SSH.

Commands run in ``/bin/sh`` with this process's environment (the system's
libraries, in the packaged app too), as a login on a host runs them in its
shell, and a file is "copied to the host" by copying it here. So ``host test
local`` and ``host setup local`` are the very checks and set-up of a host
reached over SSH.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from datayard.core.bundle import program_environment
from datayard.core.errors import HostError
from datayard.core.events import CancelToken
from datayard.core.hosts.registry import LOCAL_HOST, Host, check_python
from datayard.core.hosts.shell import Completed, queued_lines

SHELL = "/bin/sh"


def this_computer(python: str = "") -> Host:
    """This computer as a host; ``python``, when given, the one its worker environment is
    built on (else the first ``python3`` on the PATH, as on a host)."""
    return Host(name=LOCAL_HOST, destination="localhost", python=check_python(python))


class LocalShell:
    """Commands of this computer, as :class:`~datayard.core.hosts.shell.Shell` runs them."""

    def __enter__(self) -> LocalShell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing stays open between commands."""

    def run(self, command: str, *, input: str | None = None, timeout_s: float = 120.0) -> Completed:
        try:
            done = subprocess.run(
                [SHELL, "-c", command],
                input=input,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout_s,
                env=program_environment(),
            )
        except subprocess.TimeoutExpired as error:
            raise HostError(f"this computer: a command did not end in {timeout_s:.0f} s") from error
        return Completed(exit_status=done.returncode, stdout=done.stdout, stderr=done.stderr)

    def lines(
        self, command: str, *, input: str | None = None, cancel: CancelToken | None = None
    ) -> Iterator[str]:
        """Cancelling ends the command and what it started, but for what left its session
        (started detached), as a hang-up does on a host."""
        process = subprocess.Popen(
            [SHELL, "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
            env=program_environment(),
        )
        lines: queue.Queue[str | BaseException | None] = queue.Queue()
        threading.Thread(
            target=_pump, args=(process, input, lines), name="local-shell", daemon=True
        ).start()
        try:
            yield from queued_lines(lines, cancel, _failed)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            process.wait()

    def upload(self, local: Path, remote: str, *, timeout_s: float = 900.0) -> None:
        target = Path(remote)
        partial = target.with_name(f"{target.name}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, partial)
            partial.replace(target)
        except OSError as error:
            raise HostError(
                f"could not copy {local.name} to {remote}: {error.strerror or error}"
            ) from error


def _pump(
    process: subprocess.Popen[str],
    input: str | None,
    lines: queue.Queue[str | BaseException | None],
) -> None:
    try:
        assert process.stdin is not None and process.stdout is not None
        _write_and_close(process.stdin, input)
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)
    except BaseException as error:
        lines.put(error)


def _write_and_close(stdin: IO[str], input: str | None) -> None:
    try:
        with stdin:
            if input is not None:
                stdin.write(input)
    except BrokenPipeError:
        pass  # the command did not read it: what it says next tells why


def _failed(error: BaseException) -> Exception:
    return HostError(f"this computer: a command's output could not be read ({error})")
