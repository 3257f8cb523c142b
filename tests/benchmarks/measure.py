"""What the benchmark scripts share: a private work folder and services, and running a
command and measuring it as a child process.

Every command runs as a child process of a small launcher; wall time, CPU
seconds and peak RSS are that child's own with its descendants' (``os.wait4``;
the launcher is a child subreaper, so a descendant that outlives its command is
counted too).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fixtures.services import S3Server


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float
    rss_mib: float
    started: float = 0.0
    """Wall clock (Unix seconds) when the child was started."""
    orphans: int = 0
    """Descendants that outlived the command and were reaped by the launcher."""


@dataclass
class Measured:
    """Samples of one measure: median wall and CPU time, peak RSS."""

    samples: list[Sample] = field(default_factory=list, kw_only=True)
    """Keyword-only, so that subclasses may add fields without defaults."""

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def rss_mib(self) -> float:
        return max(s.rss_mib for s in self.samples)


class CommandFailedError(RuntimeError):
    pass


_LAUNCHER = """
import ctypes, json, os, subprocess, sys, time
# PR_SET_CHILD_SUBREAPER: a descendant orphaned before it was reaped comes back here,
# so that its CPU time and memory are still counted.
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
for line in sys.stdin:
    request = json.loads(line)
    with open(request["log"], "ab") as output:
        started = time.time()
        start = time.perf_counter()
        process = subprocess.Popen(
            request["command"],
            env=request["env"],
            cwd=request["cwd"],
            stdin=subprocess.DEVNULL if request["stdin"] is None else subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        if request["stdin"] is not None:
            process.stdin.write(request["stdin"].encode())
            process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    rss = usage.ru_maxrss
    orphans = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            pid, _, more = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
            continue
        orphans += 1
        cpu += more.ru_utime + more.ru_stime
        rss = max(rss, more.ru_maxrss)
    result = {
        "code": process.returncode,
        "wall": wall,
        "cpu": cpu,
        "rss": rss,
        "started": started,
        "orphans": orphans,
    }
    print(json.dumps(result), flush=True)
"""


class Launcher:
    """Starts the measured commands from a small process of its own.

    A child's ru_maxrss starts at the peak RSS of the process that spawned it
    (Linux keeps the high-water mark across fork and exec), so commands started
    from this process, which holds generated data, would all report its peak.
    The launcher is a bare interpreter: its ~10 MiB are the floor of every RSS.
    Create it first, while this process is still small.
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def measure(
        self,
        command: Sequence[str],
        env: dict[str, str],
        log: Path,
        *,
        stdin: str | None = None,
        ok: tuple[int, ...] = (0,),
        cwd: Path | None = None,
    ) -> Sample:
        """Run one command; its wall time, and CPU and peak RSS from its own rusage.

        Its output is appended to ``log``; an exit code not in ``ok`` raises
        CommandFailedError with the log's last lines.
        """
        assert self.process.stdin is not None and self.process.stdout is not None
        with log.open("a") as output:
            output.write(f"\n$ {' '.join(command)}\n")
        request = {
            "command": list(command),
            "env": env,
            "cwd": None if cwd is None else str(cwd),
            "log": str(log),
            "stdin": stdin,
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        result = json.loads(self.process.stdout.readline())
        if result["code"] not in ok:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise CommandFailedError(f"{command[0]} exited with {result['code']}:\n{tail}")
        return Sample(
            result["wall"],
            result["cpu"],
            result["rss"] / 1024,
            result["started"],
            result["orphans"],
        )

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def progress(what: str, started: float) -> None:
    """A line on stderr: seconds since ``started`` (``time.perf_counter()``), and what runs."""
    print(f"[{time.perf_counter() - started:5.0f} s] {what}", file=sys.stderr, flush=True)


def work_folder(keep: Path | None, prefix: str) -> Path:
    """A new folder for one run (under ``keep``, to be kept, or a temporary one) that holds
    every folder Datayard uses from now on: call it before importing Datayard, so that the
    user's own settings, data and caches are never read or touched."""
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=keep)).resolve()
    for kind in ("CONFIG", "DATA", "CACHE", "STATE"):
        os.environ[f"XDG_{kind}_HOME"] = str(work / "home" / kind.lower())
    return work


def private_services(work: Path, services: ExitStack) -> S3Server:
    """A private Secret Service (profile secrets live in the OS keyring) and Datayard's
    embedded store with generated credentials, under ``work``, until ``services`` closes."""
    from datayard.core.store.embedded import EmbeddedStore, new_access_key, new_secret
    from tests.fixtures.services import S3Server, private_secret_service

    services.enter_context(private_secret_service(work / "keyring"))
    access_key, secret = new_access_key(), new_secret()
    folder = work / "server"
    store = EmbeddedStore(folder / "data", folder / "state", folder / "log")
    endpoint = store.start(access_key, secret).endpoint
    services.callback(store.stop, timeout=5)
    return S3Server(endpoint, access_key, secret, store)


def finish(work: Path, keep: Path | None, started: float) -> None:
    """The run's total time on stderr; its folder removed unless it is to be kept."""
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if keep:
        print(f"kept: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
