"""Training on an SSH host against training on this computer, in one run: start-up, event
latency, and the set-up of the host's worker environment.

    .venv/bin/python tests/benchmarks/bench_remote.py [--rounds 5] [--setups 3] [--epochs 2]
        [--keep DIR]

Why a script and not a test: the figures only mean something side by side, on
the same machine, store and spec, and the run takes minutes. Everything runs on
this machine, set up as the end-to-end tests set it up, so it runs as root with
iproute2 and openssh-server (``./bootstrap.sh test``): a SeaweedFS server on
127.0.0.1 (Datayard's embedded store, in a temporary folder, with generated
credentials) holding the tests' shapes dataset; a private Secret Service; and a
training host that is a real sshd in a network namespace of its own with a
login user of its own (``tests/fixtures/ssh_host.py``). The host cannot reach
this machine's loopback, so its runs pull the dataset and mirror their events
through the tunnel over their SSH connection, as with the embedded store and a
real host. The user's side is a temporary HOME whose ``~/.ssh/config`` names
the host, and temporary XDG folders.

* Set-up: ``datayard host setup HOST --python PYTHON``, on the Python of this
  environment (it has torch and Ultralytics, as a conda environment would): the
  first one builds Datayard's wheel from the checkout; then, the host's worker
  folder removed before each, from nothing with the wheel at hand (as the
  installed app ships it); and again on a ready environment. Phases are timed
  by the lines the command prints as it reaches them.
* Start-up: from ``Backends.launch`` to the first ``batch`` event that
  ``Backends.follow`` yields, for the same spec here and on the host, in
  rounds that alternate which goes first, after a warm-up of each (which pulls
  the dataset into both caches). The SSH launch is split by timing, from
  outside, the calls it makes (login, probe, the tunnel); the rest of it is
  the run's record and ``host-side start``.
* Event latency: a worker's event line carries the time of its event, not of
  its writing, so each line is timed as it appears in the events.jsonl the
  worker writes (the host's, for a remote run: the namespace shares this
  machine's filesystem), woken by inotify, against when the follower yields
  it: every event but a run's first, which waited for the follower to start
  (the start-up figures hold that).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import os
import select
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.measure import finish, private_services, progress, work_folder

if TYPE_CHECKING:
    from datayard.core.training.backends import Backends
    from datayard.core.training.spec import TrainSpec
    from tests.fixtures.ssh_host import SshHost

HOST = "gpu1"
START_GOAL_S = 2.0
LATENCY_GOAL_S = 1.0
RUN_TIMEOUT_S = 600.0
"""A run that has not ended by then is cancelled, and the benchmark fails."""
IN_MODIFY = 0x2
PIP = "pip install"
PIP_FIRST_LINE = "Processing "
"""pip's first line as it installs the wheel: the environment was made before it."""


# -- timing from outside ------------------------------------------------------------------


class Spans:
    """Seconds spent in functions that other code calls, timed by wrapping them in place."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner: object, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.monotonic() - start

        setattr(owner, name, timed)

    def take(self) -> dict[str, float]:
        taken, self.seconds = self.seconds, {}
        return taken


class Appearances:
    """When each event line of a growing events file appears in it, by sequence number.

    A thread sleeps in inotify until the file is written, then reads what was
    added; lines already there when watching began are left out, since when
    they appeared is unknown.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.at: dict[int, float] = {}
        self._offset = 0
        self._partial = b""
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self._fd < 0 or libc.inotify_add_watch(self._fd, os.fsencode(path), IN_MODIFY) < 0:
            raise OSError(ctypes.get_errno(), f"cannot watch {path} with inotify")
        self._read(None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="appearances", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self._fd)

    def _watch(self) -> None:
        while not self._stop.is_set():
            if select.select([self._fd], [], [], 0.2)[0]:
                now = time.monotonic()
                os.read(self._fd, 1 << 16)
                self._read(now)

    def _read(self, now: float | None) -> None:
        with self.path.open("rb") as stream:
            stream.seek(self._offset)
            data = stream.read()
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        if now is not None:
            for line in lines:
                self.at.setdefault(json.loads(line)["seq"], now)


# -- one run -------------------------------------------------------------------------------


LAUNCHED = "launch returns"
FIRST_WRITTEN = "the first batch is written"
FIRST_BATCH = "the follower yields the first batch"


@dataclass
class Run:
    """One training: when it got where (seconds from the call to ``launch``; None where
    unknown), the SSH launch's calls, and each event's latency to the follower."""

    where: str
    marks: dict[str, float | None]
    spans: dict[str, float]
    latencies: list[float]

    def at(self, mark: str) -> float:
        value = self.marks[mark]
        assert value is not None, f"{self.where}: {mark} is unknown"
        return value


def train(backends: Backends, spec: TrainSpec, spans: Spans, host: str | None) -> Run:
    """Launch ``spec`` (here, or on ``host``) and follow it to its end.

    Besides the file's and the follower's times, the worker's own clock (an
    event's ``time``; this machine's clock on both sides) says when it had the
    dataset ready and when training began.
    """
    from datayard.core.training.protocol import Batch, Finished, Preparing, Record, Setup
    from datayard.core.training.ssh import RemoteRun

    spans.take()
    start, wall = time.monotonic(), time.time()
    folder = backends.launch(spec, spec.dataset, host=host)
    launched = time.monotonic() - start
    launch_spans = spans.take()
    events = Path(RemoteRun.read(folder).folder) / "events.jsonl" if host else folder.events_file
    watch = Appearances(events)
    cancel = threading.Event()
    timer = threading.Timer(RUN_TIMEOUT_S, cancel.set)
    timer.start()
    yielded: dict[int, float] = {}
    records: list[Record] = []
    try:
        for record in backends.follow(folder, cancel):
            yielded[record.seq] = time.monotonic() - start
            records.append(record)
    finally:
        timer.cancel()
        watch.close()
    batches = [r.seq for r in records if isinstance(r.event, Batch)]
    if not records or not isinstance(records[-1].event, Finished) or not batches:
        raise RuntimeError(f"run {folder.run_id} ({folder.path}) did not finish: {records[-1:]}")
    written = {seq: at - start for seq, at in watch.at.items()}
    first, batch = records[0].seq, batches[0]

    def happened(kind: type, last: bool = False) -> float | None:
        times = [r.event.time - wall for r in records if isinstance(r.event, kind)]
        return (times[-1] if last else times[0]) if times else None

    return Run(
        where=host or "local",
        marks={
            LAUNCHED: launched,
            "the worker's first event is written": written.get(first),
            "the follower yields the first event": yielded[first],
            "dataset ready (the worker's clock)": happened(Preparing, last=True),
            "training set up (the worker's clock)": happened(Setup),
            FIRST_WRITTEN: written.get(batch),
            FIRST_BATCH: yielded[batch],
        },
        spans=launch_spans,
        latencies=[yielded[seq] - written[seq] for seq in written if seq != first],
    )


# -- host setup ----------------------------------------------------------------------------


@dataclass
class Setup:
    """A ``host setup`` command: its wall time and when each phase began (seconds)."""

    wall: float
    phases: list[tuple[str, float]] = field(default_factory=list)

    def durations(self) -> dict[str, float]:
        """Each phase's seconds, up to the next one; the first is start-up and login."""
        marks = [("start-up and login", 0.0), *self.phases, ("exit", self.wall)]
        return {name: marks[i + 1][1] - begun for i, (name, begun) in enumerate(marks[:-1])}


def set_up(python: Path, log: Path) -> Setup:
    """``datayard host setup HOST --python PYTHON``; phases are its unindented lines, and
    pip's part of installing the worker environment, which begins with making it."""
    command = [
        str(Path(sys.executable).with_name("datayard")),
        *("host", "setup", HOST, "--python", str(python)),
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(COLUMNS="200", PYTHONUNBUFFERED="1")
    phases = []
    start = time.monotonic()
    with (
        log.open("a") as output,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as process,
    ):
        assert process.stdout is not None
        output.write(f"\n$ {' '.join(command)}\n")
        for line in process.stdout:
            if line.strip() and not line.startswith(" "):
                phases.append((line.split(":")[0].strip(), time.monotonic() - start))
            elif line.strip().startswith(PIP_FIRST_LINE) and phases[-1][0] != PIP:
                phases.append((PIP, time.monotonic() - start))
            output.write(line)
        code = process.wait()
    wall = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"host setup failed ({code}): see {log}")
    return Setup(wall, phases)


def remove_worker_environment(host: SshHost) -> None:
    """The host as before its first setup, for the set-up's part: no worker folder."""
    removed = host.run_as_user("rm", "-rf", f"{host.home}/.local/share/datayard/worker")
    if removed.returncode != 0:
        raise RuntimeError(f"cannot remove the worker environment: {removed.stderr}")


# -- the store, the host -------------------------------------------------------------------


def add_host(host: SshHost, home: Path, log: Path) -> None:
    """The user's ~/.ssh/config names the host, whose key is known; ``host add`` adds it."""
    from tests.fixtures.services import datayard_command
    from tests.fixtures.ssh_host import ALIAS, known, write_config

    (home / ".ssh").mkdir(parents=True, mode=0o700)
    write_config(home, host, host.client_key)
    known(home, host)
    with log.open("a") as output:
        subprocess.run(
            datayard_command("host", "add", HOST, ALIAS),
            stdout=output,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )


# -- report --------------------------------------------------------------------------------


def describe(run: Run) -> str:
    """A run's marks and the SSH launch's calls, on a line."""
    marks = [f"{value:.2f}" if value is not None else "-" for value in run.marks.values()]
    spans = "".join(f", {label} {seconds:.2f}" for label, seconds in run.spans.items())
    return f"{' / '.join(marks)} s{spans}"


def gap(local: list[Run], remote: list[Run], measure: Callable[[Run], float]) -> float:
    """The median of ``measure`` over the remote runs less its median over the local ones."""
    return statistics.median(map(measure, remote)) - statistics.median(map(measure, local))


def spread(values: Sequence[float]) -> str:
    """Median and range, in seconds."""
    return f"{statistics.median(values):6.2f} [{min(values):.2f}-{max(values):.2f}]"


def medians(parts: Sequence[dict[str, float]]) -> str:
    """The median of each named part, in the order they first come."""
    names = dict.fromkeys(name for part in parts for name in part)
    return ", ".join(
        f"{name} {statistics.median(part.get(name, 0.0) for part in parts):.2f}" for name in names
    )


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def verdict(value: float, goal: float) -> str:
    return f"goal < {goal:g} s: {'met' if value < goal else 'NOT MET'}"


def report_setups(cold: Setup, fresh: list[Setup], again: list[Setup]) -> None:
    print("\nhost setup --python (the host's Python has torch and Ultralytics)")
    rows = [
        ("first, wheel built from the checkout", [cold]),
        (f"from nothing, wheel at hand ({len(fresh)})", fresh),
        (f"again, environment ready ({len(again)})", again),
    ]
    for title, setups in rows:
        if not setups:
            continue
        print(f"  {title:44} {spread([s.wall for s in setups])} s")
        print(f"      {medians([s.durations() for s in setups])}")


def report_runs(local: list[Run], remote: list[Run]) -> None:
    print(f"\nstart-up, from the call to launch (s; median [range] of {len(local)} rounds)")
    print(f"  {'':40} {'local':>20} {'ssh':>20}")
    for mark in local[0].marks:
        cells = []
        for runs in (local, remote):
            values = [v for v in (r.marks[mark] for r in runs) if v is not None]
            cells.append(spread(values) if values else "-")
        print(f"  {mark:40} {cells[0]:>20} {cells[1]:>20}")
    pairs = zip(local, remote, strict=True)
    differences = [there.at(FIRST_BATCH) - here.at(FIRST_BATCH) for here, there in pairs]
    middle = statistics.median(differences)
    print(f"  ssh - local, round by round: {spread(differences)}  {verdict(middle, START_GOAL_S)}")
    print(f"  ssh - local, of the medians: {gap(local, remote, lambda r: r.at(FIRST_BATCH)):.2f}")
    print(
        f"      launch {gap(local, remote, lambda r: r.at(LAUNCHED)):+.2f}, "
        "the worker's start (launch returns to the first batch written) "
        f"{gap(local, remote, lambda r: r.at(FIRST_WRITTEN) - r.at(LAUNCHED)):+.2f}, "
        "the first batch's way to the follower "
        f"{gap(local, remote, lambda r: r.at(FIRST_BATCH) - r.at(FIRST_WRITTEN)):+.2f}"
    )
    rest = statistics.median(r.at(LAUNCHED) - sum(r.spans.values()) for r in remote)
    print(
        f"  ssh launch: {medians([r.spans for r in remote])}, "
        f"the run's record and host-side start {rest:.2f}"
    )

    print("\nevent latency, written by the worker to yielded by the follower (s)")
    for runs in (local, remote):
        values = [v for r in runs for v in r.latencies]
        p95 = percentile(values, 0.95)
        print(
            f"  {runs[0].where:6} {len(values):4} events: median {statistics.median(values):.3f}, "
            f"p95 {p95:.3f}, max {max(values):.3f}"
            + ("" if runs[0].where == "local" else f"  {verdict(p95, LATENCY_GOAL_S)}")
        )


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each backend (median)")
    parser.add_argument("--setups", type=int, default=3, help="host setups from nothing")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="work in a new folder under DIR and keep it")
    arguments = parser.parse_args()
    if arguments.rounds < 1 or arguments.setups < 0 or arguments.epochs < 1:
        parser.error("--rounds and --epochs must be at least 1, --setups at least 0")
    work = work_folder(arguments.keep, "datayard-bench-remote-")
    # And the user's ~/.ssh, with no ssh-agent: the host's key only.
    home = work / "home" / "user"
    os.environ["HOME"] = str(home)
    os.environ.pop("SSH_AUTH_SOCK", None)
    from datayard.core.hosts.ssh import SshConnection
    from datayard.core.training import ssh
    from datayard.core.training.backends import Backends
    from tests.fixtures.ssh_host import running_ssh_host
    from tests.fixtures.training import shapes_with_profile

    started = time.perf_counter()
    load = os.getloadavg()
    log = work / "commands.log"
    services = ExitStack()
    cold: Setup | None = None
    fresh: list[Setup] = []
    again: list[Setup] = []
    local: list[Run] = []
    remote: list[Run] = []
    details: list[str] = []
    try:
        server = private_services(work, services)
        progress("publishing the shapes dataset", started)
        spec = shapes_with_profile(server).spec(epochs=arguments.epochs)
        progress("starting the SSH host", started)
        host = services.enter_context(running_ssh_host(work / "host"))
        add_host(host, home, log)

        progress("host setup: first, with the wheel to build", started)
        cold = set_up(host.python, log)
        again.append(set_up(host.python, log))
        for index in range(1, arguments.setups + 1):
            progress(f"host setup {index}/{arguments.setups}: from nothing, then again", started)
            remove_worker_environment(host)
            fresh.append(set_up(host.python, log))
            again.append(set_up(host.python, log))

        spans = Spans()
        spans.wrap(ssh, "login", "login")
        spans.wrap(ssh, "probe", "probe")
        spans.wrap(SshConnection, "forward_to_local", "tunnel")
        backends = Backends.default()
        services.callback(backends.close)
        for where in (None, HOST):
            progress(f"warm-up: {where or 'local'} (pulls the dataset)", started)
            run = train(backends, spec, spans, where)
            details.append(f"warm-up {run.where}: {describe(run)}")
        for index in range(1, arguments.rounds + 1):
            order = (None, HOST) if index % 2 else (HOST, None)
            for where in order:
                progress(f"round {index}/{arguments.rounds}: {where or 'local'}", started)
                run = train(backends, spec, spans, where)
                (remote if where else local).append(run)
                details.append(f"round {index} {run.where}: {describe(run)}")
    finally:
        services.close()
        print(
            f"\ncores: {os.cpu_count()}; load average before: "
            f"{', '.join(f'{v:.2f}' for v in load)}, after: "
            f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}"
        )
        print(
            f"spec: shapes dataset (16 train + 8 val images of 96 px), {arguments.epochs} "
            "epochs, batch 4, imgsz 64, workers 0, cpu, no plots"
        )
        if details:
            print(f"\nseconds to: {' / '.join(local[0].marks if local else ())}")
        print("\n".join(details))
        if cold is not None:
            report_setups(cold, fresh, again)
        if local and len(local) == len(remote):
            report_runs(local, remote)
        finish(work, arguments.keep, started)


if __name__ == "__main__":
    main()
