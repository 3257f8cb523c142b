"""The local backend: training workers as child processes of this machine.

A worker is started in its own session, writing its events into the run's
folder, so it outlives the app or the command that launched it; whoever looks
next (a restarted GUI, ``datayard logs``) follows the same file. Stop and pause
requests go through the run's control file, which the worker reads after each
batch. A worker that ignores a request is killed after a grace period, and a
worker that vanished without a last word (killed, out of memory, its machine
restarted) is recorded as failed, so no run stays "running" forever; once it
had finished an epoch, such a run resumes from its checkpoint.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import psutil

from datayard.core.atomic import write_atomically
from datayard.core.bundle import program_environment
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, check_cancel
from datayard.core.paths import AppDirs
from datayard.core.store.locks import this_machine
from datayard.core.store.workspace import Connection
from datayard.core.training import credentials
from datayard.core.training.protocol import RESUMING, Failed, Preparing, Record
from datayard.core.training.runs import (
    Control,
    EventLog,
    RunFolder,
    RunRegistry,
    RunSummary,
    check_resumable,
)
from datayard.core.training.spec import TrainSpec
from datayard.core.training.support import TrainingSupport

log = logging.getLogger(__name__)

KILL_GRACE_S = 30.0
"""How long a stop or pause may take before the worker is killed: one batch and a save."""

_LOG_TAIL_LINES = 12
_TERMINAL_CODES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Escape sequences (colours, clearing a line) and control characters other than line ends."""


class LocalBackend:
    name = "local"

    def __init__(self, registry: RunRegistry, *, python: str | None = None) -> None:
        self.registry = registry
        self._python = python
        """The Python of every worker, when given; else chosen at each start."""
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._exit_codes: dict[str, int] = {}
        """How the workers this backend started and has reaped ended, by run id."""

    @classmethod
    def default(cls, dirs: AppDirs | None = None) -> LocalBackend:
        return cls(RunRegistry((dirs or AppDirs.default()).ensure().data / "runs"))

    def launch(self, spec: TrainSpec, dataset: str, *, cloned_from: str | None = None) -> RunFolder:
        """Start a worker for ``spec`` on the exact version ``dataset`` (owner/name@version)."""
        spec.validated()
        python = self.worker_python()
        folder = self.registry.create(spec, dataset, self.name, cloned_from=cloned_from)
        self.start(folder, resume=False, python=python)
        return folder

    def resume(self, folder: RunFolder, *, connection: Connection | None = None) -> None:
        """Continue a paused run, or one whose worker failed after a full epoch, from its
        last checkpoint in a new worker (see :meth:`start` for ``connection``).

        A run whose worker vanished unseen (its machine restarted) is recorded as failed
        first, and resumes as such.
        """
        if self.alive(folder):
            raise UsageError(f"run {folder.run_id} is still running")
        check_resumable(folder.run_id, self.summary(folder))
        python = self.worker_python()
        folder.clear_request()
        # Written before the worker starts, so that a follower never takes the
        # pause for the end of the run while the new worker is starting.
        folder.append(Preparing(phase=RESUMING))
        self.start(folder, resume=True, connection=connection, python=python)

    def stop(self, folder: RunFolder) -> None:
        """Ask the worker to finish now: it validates and saves what it has."""
        self._request(folder, Control.STOP)

    def pause(self, folder: RunFolder) -> None:
        """Ask the worker to stop so that ``resume`` can continue the run later."""
        self._request(folder, Control.PAUSE)

    def kill(self, folder: RunFolder, reason: str = "killed at the user's request") -> None:
        """End the worker now, and record the run as failed with ``reason``."""
        process = self._process(folder)
        if process is not None:
            for child in process.children(recursive=True):
                child.kill()
            process.kill()
            process.wait(timeout=10)
        self._reap(folder)
        folder.append(Failed(reason="killed", message=reason))

    def alive(self, folder: RunFolder) -> bool:
        return self._process(folder) is not None

    def summary(self, folder: RunFolder) -> RunSummary:
        """The run's state; a run whose worker vanished unseen is recorded as failed first."""
        summary = folder.summary()
        if summary.status.ended or self.alive(folder):
            return summary
        self._record_vanished(folder)
        return folder.summary()

    def follow(
        self,
        folder: RunFolder,
        cancel: CancelToken | None = None,
        *,
        poll_s: float = 0.25,
        grace_s: float = KILL_GRACE_S,
        from_seq: int = 0,
    ) -> Iterator[Record]:
        """Every event of the run from ``from_seq``, as it happens; ends after a terminal one.

        When the worker is gone without a terminal event it is recorded as
        failed with the tail of its output. When a stop or pause request has
        gone unanswered for ``grace_s``, the worker is killed.
        """
        events = EventLog(folder.events_file)

        def wanted(records: list[Record]) -> list[Record]:
            return [r for r in records if r.seq >= from_seq]

        last: Record | None = None
        """The newest event read, ``from_seq`` or not."""
        requested_at: float | None = None
        while True:
            new = events.read_new()
            last = new[-1] if new else last
            records = wanted(new)
            yield from records
            if any(r.event.TERMINAL for r in records) and not self._resumed_since(records):
                self._wait_exit(folder, grace_s, poll_s, cancel)
                return
            check_cancel(cancel)
            if not new and not self.alive(folder):
                # The file may have grown between the read and the check.
                late = events.read_new()
                yield from wanted(late)
                last = late[-1] if late else last
                # A run that ended before ``from_seq`` (paused, say) has nothing to add.
                if last is None or not last.event.TERMINAL:
                    self._record_vanished(folder)
                    yield from wanted(events.read_new())
                return
            request = folder.requested()
            if request is None:
                requested_at = None
            elif requested_at is None:
                requested_at = time.monotonic()
            elif time.monotonic() - requested_at > grace_s:
                self.kill(folder, f"did not answer a {request} request in {grace_s:.0f} s")
            time.sleep(poll_s)

    def worker_python(self) -> str:
        """The Python that runs the workers: the one this backend was given, else this
        computer's (see :class:`.TrainingSupport`), which may refuse: nothing can train."""
        return self._python or TrainingSupport.here().worker_python()

    def start(
        self,
        folder: RunFolder,
        *,
        resume: bool,
        connection: Connection | None = None,
        python: str | None = None,
    ) -> None:
        """Start the run's worker in its own session, so that it outlives whoever started
        it (this app, a command run over SSH), appending its events to the run's file.

        With ``connection`` the worker reaches the store with it, not with a profile of
        this machine: it gets it through a pipe to its stdin, closed once written, so the
        secret is in no file, argument or environment (see :mod:`.credentials`).
        ``python`` runs it, :meth:`worker_python` when not given.
        """
        worker = python or self.worker_python()
        command = [worker, "-m", "datayard.cli", "worker", str(folder.path)]
        if resume:
            command.append("--resume")
        if connection is not None:
            command.append("--credentials-on-stdin")
        with (
            folder.events_file.open("ab") as events,
            folder.output_file.open("ab") as output,
        ):
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL if connection is None else subprocess.PIPE,
                stdout=events,
                stderr=output,
                start_new_session=True,
                cwd=folder.path,
                env=_worker_environment(),
            )
        # With the machine and its boot: a pid names a process only there and until a restart.
        write_atomically(folder.pid_file, f"{child.pid} {this_machine()}".encode())
        self._children[folder.run_id] = child
        self._exit_codes.pop(folder.run_id, None)
        # Collected as soon as it exits, not when someone next asks about the run: the
        # app follows a run by its events and asks nothing after the last one.
        threading.Thread(target=child.wait, name=f"worker-{child.pid}", daemon=True).start()
        log.info("started worker %d for run %s", child.pid, folder.run_id)
        if child.stdin is not None and connection is not None:
            _hand_over(child.stdin, credentials.encode(connection))

    # -- internals -----------------------------------------------------------------

    def _request(self, folder: RunFolder, control: Control) -> None:
        if not self.alive(folder):
            raise UsageError(
                f"run {folder.run_id} is not running ({folder.summary().status.value})"
            )
        folder.request(control)

    def _process(self, folder: RunFolder) -> psutil.Process | None:
        """The run's worker when it is still running (a zombie counts as ended)."""
        self._reap(folder)
        child = self._children.get(folder.run_id)
        if child is not None:
            # Started here and not reaped: running, or still exiting (its command line is
            # already gone then), and reaped once it has, which keeps its exit status.
            try:
                return psutil.Process(child.pid)
            except psutil.NoSuchProcess:  # collected by its waiter since the look above
                self._reap(folder)
                return None
        pid = folder.pid()
        if pid is None or folder.started_on() not in (None, this_machine()):
            return None  # started before a restart, or elsewhere: that pid is not its worker
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                self._reap(folder)  # it exited since the first look: collect it
                return None
            command = " ".join(process.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        # A recycled pid belongs to some other program.
        return process if "worker" in command and str(folder.path) in command else None

    def _reap(self, folder: RunFolder) -> None:
        child = self._children.get(folder.run_id)
        if child is not None and child.poll() is not None:
            del self._children[folder.run_id]
            self._exit_codes[folder.run_id] = child.returncode

    def _wait_exit(
        self, folder: RunFolder, timeout_s: float, poll_s: float, cancel: CancelToken | None
    ) -> None:
        """After its last event a worker flushes the mirror and exits: so follow ends then."""
        deadline = time.monotonic() + timeout_s
        while self.alive(folder) and time.monotonic() < deadline:
            check_cancel(cancel)
            time.sleep(poll_s)

    def _resumed_since(self, records: list[Record]) -> bool:
        """A resume appends to the same file: a terminal event followed by more is not the end."""
        last_terminal = max(i for i, r in enumerate(records) if r.event.TERMINAL)
        return last_terminal < len(records) - 1

    def _record_vanished(self, folder: RunFolder) -> None:
        folder.append(Failed(reason="crashed", message=self._crash_message(folder)))

    def _crash_message(self, folder: RunFolder) -> str:
        self._reap(folder)
        code = self._exit_codes.get(folder.run_id)
        if code is not None and code < 0:
            cause = f"the worker was killed by signal {signal.Signals(-code).name}"
            if -code == signal.SIGKILL:
                cause += " (the system may have run out of memory)"
        elif code is not None:
            cause = f"the worker exited with status {code} without reporting a result"
        elif folder.started_on() not in (None, this_machine()):
            cause = (
                "the machine restarted while the run trained (or its folder moved to another "
                "machine): the worker did not survive it"
            )
        else:
            cause = "the worker ended without reporting a result (killed, or out of memory?)"
        cause = f"{cause}; {_what_next(folder)}"
        tail = _tail(folder.output_file)
        return f"{cause}; last output:\n{tail}" if tail else cause


def _what_next(folder: RunFolder) -> str:
    """What a user can do about a run whose worker died, said before they ask: a failed run
    that had finished an epoch resumes (see :attr:`RunSummary.resumable`)."""
    if folder.summary().epochs_done > 0:
        return f"`datayard resume {folder.run_id}` continues it from its last full epoch"
    return f"no epoch had ended: `datayard train --clone {folder.run_id}` starts it again"


def _hand_over(pipe: IO[bytes], document: bytes) -> None:
    """A worker that ended before reading its stdin (a broken install) is recorded as
    vanished, with its output, by whoever looks next: not this caller's failure."""
    try:
        with pipe:
            pipe.write(document)
    except BrokenPipeError:
        log.warning("the worker ended before it read its credentials")


def _worker_environment() -> dict[str, str]:
    """The worker inherits this environment (with the system's libraries: in the packaged
    app it is another program); Python output unbuffered so events flow at once."""
    environment = program_environment()
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def _tail(path: Path) -> str:
    """The last lines of a worker's console output, as a user reads them: colours, cursor
    moves and progress bars redrawn in place (each frame a line) are not part of a message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    lines = _TERMINAL_CODES.sub("", text).splitlines()
    return "\n".join(line for line in lines[-_LOG_TAIL_LINES:] if line.strip())
