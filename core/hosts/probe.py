"""``host test``: what a training host offers, each answer a line with the fix when it fails.

One SSH login and one Python process on the host answer every question (the
script in ``probe_script.py``), so a check costs about a second however many
questions it asks.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

from datayard.core.checks import Check, State
from datayard.core.errors import (
    HostAuthenticationError,
    HostConnectionError,
    HostError,
    HostKeyChangedError,
    HostKeyUnknownError,
)
from datayard.core.hosts.local import LocalShell
from datayard.core.hosts.registry import LOCAL_HOST, Host
from datayard.core.hosts.shell import Shell
from datayard.core.hosts.ssh import SshConnection
from datayard.core.units import size

MIN_PYTHON = (3, 11)
LOW_DISK = 5 * 1024**3
"""Below this, a dataset pull and a run's checkpoints may not fit in the work folder."""
FULL_DISK = 1024**3
"""Below this, a run is not started: its dataset and first checkpoint would not fit."""
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total_mib: int
    memory_free_mib: int
    driver: str
    cuda: str

    def describe(self) -> str:
        total = size(self.memory_total_mib * 1024**2)
        free = size(self.memory_free_mib * 1024**2)
        return (
            f"{self.index}: {self.name}, {total} ({free} free), "
            f"driver {self.driver}, CUDA {self.cuda}"
        )


@dataclass(frozen=True)
class HostFacts:
    """The host's answers; ``worker`` holds the versions in its worker environment."""

    python: str
    python_version: tuple[int, ...]
    data_folder: str
    gpus: tuple[Gpu, ...]
    gpu_error: str
    disk_free: int
    store_reachable: bool | None
    store_error: str
    worker_python: str
    worker: dict[str, Any] | None
    worker_error: str

    @property
    def worker_ready(self) -> bool:
        return self.worker_problem() == ""

    def worker_problem(self) -> str:
        """Why the worker environment cannot run this app's runs; empty when it can."""
        return worker_problem(self.worker, self.worker_error)


def worker_problem(worker: dict[str, Any] | None, error: str) -> str:
    """Why a worker environment with the versions ``worker`` (as the probe script's
    ``worker()`` finds them, or None with ``error``) cannot run this app's runs; empty
    when it can."""
    if worker is None:
        return error or "not set up"
    wanted = version("datayard")
    if worker.get("datayard") != wanted:
        found = worker.get("datayard") or "no Datayard"
        return f"it has {found}, this app is Datayard {wanted}"
    missing = [n for n in ("torch", "ultralytics") if not worker.get(n)]
    if missing:
        return f"it lacks {' and '.join(missing)}"
    return ""


def store_address(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def is_loopback(endpoint: str) -> bool:
    """A store on this machine's loopback is out of every other machine's reach."""
    return store_address(endpoint)[0] in _LOOPBACK


def python_command(host: Host) -> str:
    """The host's Python: the one the user named, else the first python3 on its PATH."""
    if host.python:
        return shlex.quote(host.python)
    return "$(command -v python3 || command -v python || echo python3)"


def probe(connection: Shell, host: Host, store_endpoint: str = "") -> HostFacts:
    script = resources.files("datayard.core.hosts").joinpath("probe_script.py").read_text()
    address = (
        ("", 0)
        if not store_endpoint or is_loopback(store_endpoint)
        else (store_address(store_endpoint))
    )
    params = {
        "version": version("datayard"),
        "store_host": address[0],
        "store_port": address[1],
    }
    done = connection.run(
        f"{python_command(host)} -c {shlex.quote(script)}", input=json.dumps(params) + "\n"
    )
    if done.exit_status == 127 or "not found" in done.stderr:
        raise HostError(
            f"{host.shown} has no Python ({done.stderr.strip() or 'python3 not found'}); "
            "install Python 3.11 or newer there, or name one with 'datayard host setup "
            f"{host.name} --python /path/to/python'"
        )
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise HostError(
            f"{host.shown}: its Python could not answer ({done.stderr.strip()[-300:]})"
        ) from error
    return HostFacts(
        python=data["python"],
        python_version=tuple(data["python_version"]),
        data_folder=data["data_folder"],
        gpus=tuple(Gpu(**gpu) for gpu in data["gpus"]),
        gpu_error=data["gpu_error"],
        disk_free=data["disk_free"],
        store_reachable=data["store_reachable"],
        store_error=data["store_error"],
        worker_python=data["worker_python"],
        worker=data["worker"],
        worker_error=data["worker_error"],
    )


def test_host(
    host: Host, *, store_endpoint: str = "", passphrase: str | None = None
) -> Generator[Check, None, None]:
    """Each check as it is answered; a failed login ends the list with the reason.

    This computer has no login to check, and its workers reach the store as the app
    does: its list starts at the Python and has no store line. Closing the generator
    early logs out at once.
    """
    if host.name == LOCAL_HOST:
        with LocalShell() as shell:
            yield from _machine_checks(shell, host, "")
        return
    destination = host.target
    try:
        connection = SshConnection.open(host.name, destination, passphrase=passphrase)
    except HostConnectionError as error:
        yield Check("reachable", State.FAIL, str(error), "check the name, the port and the network")
        return
    except (HostKeyUnknownError, HostKeyChangedError) as error:
        yield Check("reachable", State.OK, str(destination))
        yield Check("host key", State.FAIL, str(error))
        return
    except HostAuthenticationError as error:
        yield Check("reachable", State.OK, str(destination))
        yield Check("host key", State.OK, "known")
        yield Check("authentication", State.FAIL, str(error))
        return
    with connection:
        yield Check("reachable", State.OK, str(destination))
        yield Check("host key", State.OK, "known")
        yield Check("authentication", State.OK, "logged in")
        yield from _machine_checks(connection, host, store_endpoint)


def _machine_checks(shell: Shell, host: Host, store_endpoint: str) -> Iterator[Check]:
    try:
        facts = probe(shell, host, store_endpoint)
    except HostError as error:
        yield Check("python", State.FAIL, str(error))
        return
    yield from _facts_checks(host, facts, store_endpoint)


def _facts_checks(host: Host, facts: HostFacts, store_endpoint: str) -> Iterator[Check]:
    shown = ".".join(map(str, facts.python_version))
    if facts.python_version < MIN_PYTHON:
        yield Check(
            "python",
            State.FAIL,
            f"{facts.python} is Python {shown}",
            "the worker needs Python 3.11 or newer: install one, or name it with "
            f"'datayard host setup {host.name} --python PATH'",
        )
    else:
        yield Check("python", State.OK, f"{facts.python} (Python {shown})")
    if facts.gpus:
        yield Check("gpus", State.OK, "; ".join(gpu.describe() for gpu in facts.gpus))
    else:
        yield Check("gpus", State.WARN, f"none ({facts.gpu_error})", "runs there train on the CPU")
    free = size(facts.disk_free)
    if facts.disk_free < 0:
        yield Check("disk", State.WARN, f"unknown for {facts.data_folder}")
    elif facts.disk_free < LOW_DISK:
        yield Check(
            "disk",
            State.WARN,
            f"{free} free in {facts.data_folder}",
            "a dataset and its checkpoints may not fit: free some space",
        )
    else:
        yield Check("disk", State.OK, f"{free} free in {facts.data_folder}")
    if store_endpoint:
        yield _store_check(facts, store_endpoint)
    problem = facts.worker_problem()
    if problem:
        yield Check(
            "worker",
            State.FAIL,
            f"{facts.worker_python}: {problem}",
            f"run 'datayard host setup {host.name}'",
        )
    else:
        assert facts.worker is not None
        yield Check(
            "worker",
            State.OK,
            f"Datayard {facts.worker['datayard']}, torch {facts.worker['torch']}, "
            f"Ultralytics {facts.worker['ultralytics']} ({facts.worker_python})",
        )


def _store_check(facts: HostFacts, endpoint: str) -> Check:
    if facts.store_reachable:
        return Check("store", State.OK, f"{endpoint} is reachable from the host")
    detail = (
        "the store is on this computer's loopback, out of the host's reach"
        if is_loopback(endpoint)
        else f"{endpoint} is not reachable from the host ({facts.store_error})"
    )
    return Check(
        "store",
        State.WARN,
        detail,
        "runs there reach the store through a tunnel over their SSH connection, so "
        "they depend on this computer staying connected",
    )
