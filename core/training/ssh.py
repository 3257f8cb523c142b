"""The SSH backend: workers on a training host, started and followed over plain SSH.

Nothing runs on the host between runs: each action is one ``datayard
host-side`` command of the worker environment there (see
:mod:`datayard.core.training.host_side`). The worker is started detached, so
it outlives the connection, this app and this computer going to sleep; the
store's credentials reach it through the command's stdin, never its command
line. This machine keeps a folder per run like a local one, whose events file
is the copy of the host's, appended in order as they are followed: following
again after a lost connection asks the host for the events from the next
sequence number this copy lacks, so none is missed or repeated. While the host
cannot be reached, the copy goes on from the store's copy of the events, which
the worker keeps there by itself, on the same terms; following goes back to
the host once it answers.

A store the host cannot reach (the embedded one, on this computer's
loopback, or one that only this computer's network reaches) is reached
through a tunnel over the run's SSH connection, from a port of the host's
loopback that is chosen at launch and asked for again on every
re-attachment, since the worker knows that address only, to the store's
address as this computer reaches it. The worker speaks to that port as to the
store, TLS included: a store's certificate names the store, not the host's
loopback, so it is checked for the store's own name (:attr:`Profile.tls_hostname`)
and still proves that the other end of the tunnel is the store.
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

from datayard.core.atomic import write_atomically
from datayard.core.errors import DatayardError, HostConnectionError, HostError, UsageError
from datayard.core.events import CancelToken, check_cancel
from datayard.core.hosts.login import login
from datayard.core.hosts.probe import FULL_DISK, HostFacts, probe, store_address
from datayard.core.hosts.registry import Host, HostRegistry
from datayard.core.hosts.ssh import SshConnection
from datayard.core.secrets import SecretStore
from datayard.core.settings import Profile
from datayard.core.store import ca_bundle
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Connection
from datayard.core.training.host_side import HOST_PROTOCOL
from datayard.core.training.mirror import FLUSH_INTERVAL_S
from datayard.core.training.protocol import Batch, Preparing, Record, decode
from datayard.core.training.runs import (
    EventCopy,
    EventLog,
    RunFolder,
    RunRegistry,
    RunStatus,
    RunSummary,
)
from datayard.core.training.spec import TrainSpec
from datayard.core.training.stored_events import StoredEvents
from datayard.core.units import size

log = logging.getLogger(__name__)

REMOTE_FILE = "remote.json"
BACKEND_PREFIX = "ssh:"
RECONNECT_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Waits between attempts to re-attach after a lost connection; the last one repeats.
The store's copy of the run's events is read meanwhile, every :data:`FLUSH_INTERVAL_S`
(how often the worker stores them)."""

Connect = Callable[[str | None], Connection]
"""The store of a profile, by name (the default one for ``None``), with its secret."""


@dataclass(frozen=True)
class RemoteRun:
    """Where a run lives on its host; kept beside its record in this machine's folder."""

    host: str
    folder: str
    python: str
    tunnel_port: int = 0
    """The host's loopback port that leads to the store here; 0 when the host reaches it."""
    store_port: int = 0
    store_host: str = "127.0.0.1"
    """Where the tunnel leads, as this computer reaches the store."""

    @classmethod
    def read(cls, folder: RunFolder) -> RemoteRun:
        try:
            data = json.loads((folder.path / REMOTE_FILE).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as error:
            raise UsageError(
                f"run {folder.run_id} does not say where it runs ({REMOTE_FILE}: {error})"
            ) from error

    def write(self, folder: RunFolder) -> None:
        write_atomically(folder.path / REMOTE_FILE, json.dumps(asdict(self)).encode())


def host_of(folder: RunFolder) -> str | None:
    """The host a run was launched on, or None for a run of this computer."""
    backend = folder.record().backend
    return backend[len(BACKEND_PREFIX) :] if backend.startswith(BACKEND_PREFIX) else None


class SshBackend:
    """Launches, follows and controls runs on the hosts of ``hosts``."""

    def __init__(
        self,
        registry: RunRegistry,
        hosts: HostRegistry,
        connect: Connect,
        secrets: SecretStore | None = None,
        *,
        reconnect_delays_s: tuple[float, ...] = RECONNECT_DELAYS_S,
    ) -> None:
        """``connect`` gives a run's workers their store, and its follower the store's copy
        of its events while the host cannot be reached."""
        self.registry = registry
        self.hosts = hosts
        self.connect = connect
        self.secrets = secrets
        self.reconnect_delays_s = reconnect_delays_s
        self._connections: dict[str, SshConnection] = {}
        """One open connection per run being followed: it carries the run's tunnel."""
        self._connecting: dict[str, threading.Lock] = {}
        """Per run: a follower and a control in other threads log in one at a time, so that
        the second takes the first one's connection, whose tunnel holds the run's port."""

    def launch(
        self,
        spec: TrainSpec,
        dataset: str,
        host_name: str,
        *,
        cloned_from: str | None = None,
        detached: bool = False,
    ) -> RunFolder:
        """Start a worker for ``spec`` on ``host_name``, with the store of the spec's profile.

        A run that reaches the store through this computer needs someone here to
        follow it: ``detached`` (nobody will) is refused for it before anything starts.
        """
        spec.validated()
        host = self.hosts.get(host_name)
        store = self.connect(spec.profile)
        certificates = _ca_certificates(store)
        connection = login(host, self.secrets)
        try:
            facts = probe(connection, host, store.profile.endpoint)
            check_host(host, facts, spec)
            if detached and not facts.store_reachable:
                raise UsageError(
                    f"host {host.name!r} cannot reach the store ({store.profile.endpoint}) but "
                    "through this computer: follow the run (without --detach) and keep this "
                    "computer connected, or train with a profile whose store the host reaches"
                )
            folder = self.registry.create(
                spec, dataset, f"{BACKEND_PREFIX}{host.name}", cloned_from=cloned_from
            )
            remote = RemoteRun(
                host=host.name,
                folder=f"{facts.data_folder}/runs/{folder.run_id}",
                python=facts.worker_python,
            )
            if not facts.store_reachable:
                store_host, store_port = store_address(store.profile.endpoint)
                tunnel = connection.forward_to_local(store_port, local_host=store_host)
                remote = replace(
                    remote, tunnel_port=tunnel, store_port=store_port, store_host=store_host
                )
            remote.write(folder)
            self._start(connection, folder, remote, store, certificates, resume=False)
        except BaseException:
            connection.close()
            raise
        self._keep(folder, connection)
        return folder

    def resume(self, folder: RunFolder) -> None:
        remote = RemoteRun.read(folder)
        store = self.connect(folder.record().spec.profile)
        certificates = _ca_certificates(store)
        connection = self._connection(folder, remote)
        self._start(connection, folder, remote, store, certificates, resume=True)

    def stop(self, folder: RunFolder) -> None:
        self._control(folder, "stop")

    def pause(self, folder: RunFolder) -> None:
        self._control(folder, "pause")

    def kill(self, folder: RunFolder, reason: str = "killed at the user's request") -> None:
        self._control(folder, "kill")

    def alive(self, folder: RunFolder) -> bool:
        remote = RemoteRun.read(folder)
        reply = self._host_side(self._connection(folder, remote), remote, "status", remote.folder)
        return bool(reply.get("alive"))

    def summary(self, folder: RunFolder) -> RunSummary:
        """The run as its copy here has it: listing runs never waits for a host."""
        return folder.summary()

    def follow(
        self,
        folder: RunFolder,
        cancel: CancelToken | None = None,
        *,
        from_seq: int = 0,
    ) -> Iterator[Record]:
        """Every event of the run from ``from_seq``: first those copied here, then the
        host's as they come, re-attaching after a lost connection until the run ends.

        Between attempts to re-attach, the events come from the store's copy; a run
        that ended there is followed to its end without its host. A run that reaches
        the store through this computer's tunnel stores nothing while the connection
        is down, so its host alone is waited for.
        """
        remote = RemoteRun.read(folder)
        copy = EventCopy(folder)
        for copied in EventLog(folder.events_file).read_new():
            if copied.seq >= from_seq:
                yield copied
        store = None if remote.tunnel_port else _StoreCopy(folder, self.connect)
        failures = 0
        away = False
        while True:
            check_cancel(cancel)
            try:
                connection = self._connection(folder, remote)
                command = _host_side_command(
                    remote, "follow", remote.folder, "--from-seq", str(copy.next_seq)
                )
                lines = connection.lines(command, cancel=cancel)
                header = next(lines, None)
                if header is None:
                    _check_connected(connection, remote)
                self._answer(remote, header or "", "")
                if away:
                    away = False
                    log.info("host %r answers: following run %s there", remote.host, folder.run_id)
                for line in lines:
                    new = decode(line)
                    if new is None or not copy.take(new):
                        continue  # a stray line, or one this copy has
                    failures = 0
                    if new.seq >= from_seq:
                        yield new
                _check_connected(connection, remote)
                if self._ended_on_host(folder, remote):
                    self._forget(folder)
                    return
            except HostConnectionError as error:
                self._forget(folder)
                delay = self.reconnect_delays_s[min(failures, len(self.reconnect_delays_s) - 1)]
                failures += 1
                log.warning("run %s: %s; trying again in %.0f s", folder.run_id, error, delay)
                if store is None:
                    _wait(delay, cancel)
                    continue
                if not away:
                    away = True
                    log.warning(
                        "host %r unreachable: following run %s from the store",
                        remote.host,
                        folder.run_id,
                    )
                for new in _meanwhile(store, copy, delay, cancel):
                    if new.seq >= from_seq:
                        yield new
                    if new.event.TERMINAL:
                        return

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    # -- internals -----------------------------------------------------------------

    def _start(
        self,
        connection: SshConnection,
        folder: RunFolder,
        remote: RemoteRun,
        store: Connection,
        ca_certificates: str,
        *,
        resume: bool,
    ) -> None:
        profile = store.profile
        if remote.tunnel_port:
            profile = _through_tunnel(profile, remote.tunnel_port)
        document: dict[str, object] = {
            "protocol": HOST_PROTOCOL,
            "record": json.loads(folder.record().to_json()),
            # The host has no file of this computer's: the bundle's certificates go instead.
            "profile": asdict(replace(profile, embedded=False, ca_bundle="")),
            "secret": store.secret,
            "resume": resume,
        }
        if ca_certificates:
            document["ca_certificates"] = ca_certificates
        if resume:
            document["events"] = _milestones(folder)
        runs_root = str(Path(remote.folder).parent)
        self._host_side(connection, remote, "start", runs_root, input=json.dumps(document))
        log.info("run %s started on host %s", folder.run_id, remote.host)

    def _control(self, folder: RunFolder, action: str) -> None:
        remote = RemoteRun.read(folder)
        self._host_side(self._connection(folder, remote), remote, "control", remote.folder, action)

    def _host_side(
        self, connection: SshConnection, remote: RemoteRun, *args: str, input: str | None = None
    ) -> dict[str, object]:
        done = connection.run(_host_side_command(remote, *args), input=input)
        last = done.stdout.strip().splitlines()[-1:] or [""]
        return self._answer(remote, last[0], done.stderr)

    def _answer(self, remote: RemoteRun, line: str, stderr: str) -> dict[str, object]:
        """A host-side answer, or the error that says why there is none."""
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or "protocol" not in reply:
            raise HostError(
                f"host {remote.host!r} did not answer as a Datayard worker environment "
                f"({(stderr or line).strip()[-400:]}); run 'datayard host setup {remote.host}'"
            )
        if reply["protocol"] != HOST_PROTOCOL or reply.get("datayard") != version("datayard"):
            raise HostError(
                f"host {remote.host!r} runs Datayard {reply.get('datayard')} (protocol "
                f"{reply['protocol']}), this app is {version('datayard')}: run 'datayard host "
                f"setup {remote.host}' to update it"
            )
        if "error" in reply:
            raise UsageError(f"host {remote.host!r}: {reply['error']}")
        return reply

    def _connection(self, folder: RunFolder, remote: RemoteRun) -> SshConnection:
        """The run's open connection, or a new one, with the run's tunnel again."""
        with self._connecting.setdefault(folder.run_id, threading.Lock()):
            connection = self._connections.get(folder.run_id)
            if connection is not None and not connection.lost:
                return connection
            connection = login(self.hosts.get(remote.host), self.secrets)
            if remote.tunnel_port:
                try:
                    connection.forward_to_local(
                        remote.store_port,
                        remote_port=remote.tunnel_port,
                        local_host=remote.store_host,
                    )
                except BaseException:
                    connection.close()
                    raise
            self._keep(folder, connection)
            return connection

    def _ended_on_host(self, folder: RunFolder, remote: RemoteRun) -> bool:
        """After the host's follower ends: whether the run did, or only the follower."""
        status = self._host_side(self._connection(folder, remote), remote, "status", remote.folder)
        return not status.get("alive") and RunStatus(str(status.get("status"))).ended

    def _keep(self, folder: RunFolder, connection: SshConnection) -> None:
        old = self._connections.pop(folder.run_id, None)
        if old is not None and old is not connection:
            old.close()
        self._connections[folder.run_id] = connection

    def _forget(self, folder: RunFolder) -> None:
        connection = self._connections.pop(folder.run_id, None)
        if connection is not None:
            connection.close()


def check_host(host: Host, facts: HostFacts, spec: TrainSpec) -> None:
    """Refuse, before anything starts, a run the host cannot take."""
    problem = facts.worker_problem()
    if problem:
        raise UsageError(
            f"host {host.name!r} cannot run this app's worker ({facts.worker_python}: {problem}); "
            f"run 'datayard host setup {host.name}'"
        )
    wanted = _gpu_indices(spec.device)
    if wanted and not facts.gpus:
        raise UsageError(
            f"host {host.name!r} has no GPU ({facts.gpu_error}) but the run asks for "
            f"device {spec.device}: train with --device cpu, or on another host"
        )
    missing = [index for index in wanted if index >= len(facts.gpus)]
    if missing:
        raise UsageError(
            f"host {host.name!r} has {len(facts.gpus)} GPU(s) (0 to {len(facts.gpus) - 1}) but "
            f"the run asks for device {spec.device}"
        )
    if 0 <= facts.disk_free < FULL_DISK:
        raise UsageError(
            f"host {host.name!r} has {size(facts.disk_free)} free in {facts.data_folder}: not "
            "enough for the dataset and the run's checkpoints; free some space there"
        )


def _gpu_indices(device: str) -> list[int]:
    """The GPUs a device string names (``0,1``, ``cuda:1``); none for auto, cpu and mps."""
    if device.startswith("cuda"):
        return [int(device.partition(":")[2] or 0)]
    return [int(part) for part in device.split(",")] if device[:1].isdigit() else []


def _through_tunnel(profile: Profile, port: int) -> Profile:
    """The profile as the worker on the host uses it: the store at the tunnel's ``port`` of
    the host's loopback, spoken to with the store's own scheme, and a TLS certificate
    checked for the store's own name."""
    parts = urlsplit(profile.endpoint)
    return replace(
        profile,
        endpoint=f"{parts.scheme}://127.0.0.1:{port}",
        tls_hostname=parts.hostname or "",
    )


def _ca_certificates(store: Connection) -> str:
    """What the host gets of the profile's private CA bundle, read before anything starts:
    a file that cannot be read here fails the launch or resume, naming it."""
    return ca_bundle.read(store.profile) if store.profile.ca_bundle else ""


def _milestones(folder: RunFolder) -> list[str]:
    """The lines of the run's copy that its status is made of, and its last, which numbers
    what comes next: what a host that lost the run makes it again from. Batches and
    progress, most of a run's lines, are left out."""
    records = EventLog(folder.events_file).read_new()
    kept = [r.line for r in records[:-1] if not isinstance(r.event, (Batch, Preparing))]
    return kept + [r.line for r in records[-1:]]


def _check_connected(connection: SshConnection, remote: RemoteRun) -> None:
    """A follower's lines that end with the connection lost mean the host went, not the run."""
    if connection.lost:
        raise HostConnectionError(f"the connection to host {remote.host!r} was lost")


def _host_side_command(remote: RemoteRun, *args: str) -> str:
    words = [remote.python, "-m", "datayard.cli", "host-side", *args]
    return " ".join(shlex.quote(word) for word in words)


class _StoreCopy:
    """The store's copy of a run's events, reached with the run's profile when first
    needed. A store that cannot be read either is said once, and waited out with the host."""

    def __init__(self, folder: RunFolder, connect: Connect) -> None:
        self.folder = folder
        self._connect = connect
        self._events: StoredEvents | None = None
        self._failing = False

    def since(self, seq: int) -> Iterator[Record]:
        try:
            if self._events is None:
                store = self._connect(self.folder.record().spec.profile)
                # Tried once: the follower asks again at its own pace, and the host first.
                bucket = Bucket(store.profile, store.secret, connections=1).tried_once()
                self._events = StoredEvents(bucket, self.folder.run_id)
            yield from self._events.since(seq)
        except DatayardError as error:
            if not self._failing:
                log.warning(
                    "run %s: the store cannot be read either (%s); waiting for its host",
                    self.folder.run_id,
                    error,
                )
            self._failing = True
        else:
            self._failing = False


def _meanwhile(
    store: _StoreCopy, copy: EventCopy, delay_s: float, cancel: CancelToken | None
) -> Iterator[Record]:
    """The events the store's copy adds to ``copy`` over ``delay_s``, read as often as
    the worker stores them."""
    deadline = time.monotonic() + delay_s
    while True:
        for record in store.since(copy.next_seq):
            if copy.take(record):
                yield record
        left = deadline - time.monotonic()
        if left <= 0:
            return
        _wait(min(FLUSH_INTERVAL_S, left), cancel)


def _wait(delay_s: float, cancel: CancelToken | None) -> None:
    deadline = time.monotonic() + delay_s
    while time.monotonic() < deadline:
        check_cancel(cancel)
        time.sleep(min(0.25, deadline - time.monotonic()))
