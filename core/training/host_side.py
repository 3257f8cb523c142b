"""A training host's side of remote training: what the app runs there over SSH.

The app keeps no agent or server on a training host. It runs ``datayard
host-side COMMAND`` there with the Python of the worker environment it
installed, and reads the answer; the worker itself runs detached on the host,
as :class:`LocalBackend` runs it here, so it outlives the SSH connection. The
host needs no profile, settings or keyring: the store's profile and secret come
with each start, on stdin, and reach the worker through a pipe (see
:mod:`.credentials`). The worker's dataset cache and Ultralytics' offline
folder are in the host user's own Datayard folders.

Every answer is one JSON object on one line of stdout, exit status 0::

    {"protocol": 1, "datayard": "0.1.0", ...the command's members}

``protocol`` is :data:`HOST_PROTOCOL` and ``datayard`` the installed version,
so the app sees a stale worker environment before it starts anything. A
request that cannot be carried out answers ``{"protocol": 1, "datayard": ...,
"error": "<one line>", "kind": "<kind>"}``, exit status 2 (kinds: see
:class:`HostSideError`); any other failure (a run's unreadable run.json)
answers the same way with kind ``error`` and its own exit status.

``start RUNS_ROOT``
    stdin, then end of file: ``{"protocol": 1, "record": <run.json>,
    "profile": {<Profile fields>}, "secret": "...", "resume": false}``, and
    ``"ca_certificates": "<PEM>"`` when the profile names a private CA's bundle
    (its ``ca_bundle``, a file of the app's computer, is sent empty). Makes
    RUNS_ROOT/<run_id>/ with the record (never the secret) and the certificates
    (:data:`CA_BUNDLE_FILE`, which the worker's profile names), and starts its
    worker; with ``"resume": true`` the run must be there, its worker gone, and
    resumable (paused, or failed after a full epoch: see
    :attr:`.RunSummary.resumable`). A resume also carries ``"events"``, the
    app's copy of the run's event lines less its batches and progress: a run
    that is not there (the host's data folder was wiped) is made again from
    them and the record, so that it resumes, from the store's copy of its
    checkpoint, with the numbering the app follows. Answers ``"pid"`` (the
    worker's) and ``"folder"`` (absolute) at once.
``status RUN_FOLDER``
    Answers ``"alive"``, ``"status"`` (a :class:`RunStatus`), ``"next_seq"``,
    and for a failed run its ``"reason"`` and ``"message"``. A worker gone
    without a last word is recorded as failed (``crashed``) first.
``control RUN_FOLDER stop|pause|kill``
    Asks the running worker to stop or pause after its batch, or kills it.
    Answers at once, with no other members; a follower sees the run end.
``follow RUN_FOLDER --from-seq N``
    The answer's first line carries no other members; then come the run's
    event lines from sequence number N, each exactly as in its events.jsonl,
    as they are written, until the run has ended and its worker exited (a
    vanished worker recorded as failed, one that leaves a stop or pause
    unanswered for 30 s killed). Re-attaching after a lost connection from the
    next number the app lacks gives every event once: none is missed, none
    repeated.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from datayard.core import schema
from datayard.core.atomic import write_atomically
from datayard.core.errors import UsageError, quoted
from datayard.core.store import ca_bundle
from datayard.core.store.workspace import Connection
from datayard.core.training import credentials
from datayard.core.training.local import LocalBackend
from datayard.core.training.protocol import ProtocolError, decode
from datayard.core.training.runs import RUN_FILE, RunFolder, RunRecord, RunRegistry
from datayard.core.training.spec import SpecError

HOST_PROTOCOL = 1
"""The version of these commands' requests and answers; another one is refused."""
CA_BUNDLE_FILE = "ca-bundle.pem"
"""In a run's folder: the certificates its last start brought, which its worker trusts."""


class HostSideError(UsageError):
    """A request the host cannot carry out as asked; ``kind`` tells the app which case:

    ``usage`` (the command line), ``request`` (the document on stdin), ``protocol``
    (another :data:`HOST_PROTOCOL`), ``no-run`` (no run at that folder) or ``state``
    (the run is not in a state for it: running, not resumable, there already).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def header() -> dict[str, Any]:
    """What every answer carries."""
    return {"protocol": HOST_PROTOCOL, "datayard": importlib.metadata.version("datayard")}


@dataclass(frozen=True)
class StartRequest:
    """What the app sends to start a run on the host, or to resume it there."""

    record: RunRecord
    connection: Connection
    resume: bool
    events: tuple[str, ...] = ()
    """With a resume: what the run's folder is made again from when the host lost it."""
    ca_certificates: str = ""
    """The PEM certificates of the profile's private CA, checked; empty without one."""

    @classmethod
    def from_json(cls, raw: bytes) -> StartRequest:
        """The request in ``raw``, checked in full before anything is made."""
        try:
            body = credentials.document(raw)
            _check_protocol(body.get("protocol"))
            record = _record(schema.json_object(schema.member(body, "record"), "record"))
            resume = body.get("resume", False)
            if not isinstance(resume, bool):
                raise schema.SchemaError("resume", f"is not true or false ({quoted(resume)})")
            connection = credentials.connection_in(body)
            events = _event_lines(body) if "events" in body else ()
            certificates = _ca_certificates(body) if "ca_certificates" in body else ""
        except schema.SchemaError as problem:
            raise HostSideError("request", problem.about("the request on stdin")) from None
        try:
            record.spec.validated()
        except SpecError as error:
            raise HostSideError("request", f"the request's record.spec: {error}") from None
        return cls(record, connection, resume, events, certificates)


def _event_lines(body: dict[str, Any]) -> tuple[str, ...]:
    """The request's ``events``: each one line of this protocol, as a run's file holds them."""
    lines = schema.texts(body, "events")
    for index, line in enumerate(lines):
        try:
            record = decode(line)
        except ProtocolError as error:
            raise schema.SchemaError(f"events[{index}]", f"is refused: {error}") from None
        if record is None or "\n" in line:
            raise schema.SchemaError(f"events[{index}]", "is not one event line")
    return lines


def _ca_certificates(body: dict[str, Any]) -> str:
    try:
        return ca_bundle.certificates(schema.text(body, "ca_certificates"))
    except ca_bundle.BundleError as problem:
        raise schema.SchemaError("ca_certificates", str(problem)) from None


def _record(body: dict[str, Any]) -> RunRecord:
    try:
        return RunRecord.from_dict(body)
    except schema.SchemaError as problem:
        raise problem.within("record") from None


def _check_protocol(value: object) -> None:
    if type(value) is not int or value != HOST_PROTOCOL:
        raise HostSideError(
            "protocol",
            f"the request is for host protocol {quoted(value)}; Datayard "
            f"{header()['datayard']} on this host speaks {HOST_PROTOCOL}: "
            "install the app's Datayard version on this host",
        )


def start(runs_root: Path, request: StartRequest) -> RunFolder:
    """Make the run's folder (or find the paused run's) and start its worker."""
    registry = RunRegistry(runs_root.resolve())
    # The host's side runs in the worker environment: its Python is the workers'.
    backend = LocalBackend(registry, python=sys.executable)
    run_id = request.record.run_id
    if request.resume:
        if request.events and not (registry.root / run_id).exists():
            _make_again(registry, request)
        folder = open_run(registry.root / run_id)
        connection = _handed(folder, request)
        _in_state(lambda: backend.resume(folder, connection=connection))
        return folder
    try:
        folder = registry.add(request.record)
    except FileExistsError:
        raise HostSideError(
            "state", f"run {run_id} is on this host already: resume it, or launch a new run"
        ) from None
    backend.start(folder, resume=False, connection=_handed(folder, request))
    return folder


def _handed(folder: RunFolder, request: StartRequest) -> Connection:
    """The connection the run's worker gets: with the request's CA certificates written in
    the run's folder and named by its profile, since the app's file is not on this host.
    Every start brings them again, so a resume trusts what the app's profile names now."""
    path = folder.path / CA_BUNDLE_FILE
    if not request.ca_certificates:
        path.unlink(missing_ok=True)
        return request.connection
    write_atomically(path, request.ca_certificates.encode())
    profile = replace(request.connection.profile, ca_bundle=str(path))
    return replace(request.connection, profile=profile)


def _make_again(registry: RunRegistry, request: StartRequest) -> None:
    """The folder of a run this host lost, from the record and events the app keeps: its
    status and numbering as they were; its checkpoint comes from the store."""
    folder = registry.add(request.record)
    lines = "".join(f"{line}\n" for line in request.events)
    write_atomically(folder.events_file, lines.encode())


def open_run(path: Path) -> RunFolder:
    """The run at ``path``; its path is made absolute, as its worker's command line has it
    (which is how a worker is told from a process that took its pid later)."""
    folder = RunFolder(path.resolve())
    if not folder.record_file.is_file():
        raise HostSideError("no-run", f"{path} is not a run's folder on this host (no {RUN_FILE})")
    return folder


def status(folder: RunFolder) -> dict[str, Any]:
    backend = _backend(folder)
    summary = backend.summary(folder)
    answer: dict[str, Any] = {
        "alive": backend.alive(folder),
        "status": summary.status.value,
        "next_seq": folder.next_seq(),
    }
    if summary.reason:
        answer.update(reason=summary.reason, message=summary.message)
    return answer


CONTROLS: dict[str, Callable[[LocalBackend, RunFolder], None]] = {
    "stop": LocalBackend.stop,
    "pause": LocalBackend.pause,
    "kill": LocalBackend.kill,
}


def control(folder: RunFolder, action: str) -> None:
    """One of :data:`CONTROLS`, for a run whose worker is running."""
    backend = _backend(folder)
    if not backend.alive(folder):
        state = backend.summary(folder).status.value
        raise HostSideError("state", f"run {folder.run_id} is not running ({state})")
    _in_state(lambda: CONTROLS[action](backend, folder))


def follow(folder: RunFolder, from_seq: int) -> Iterator[str]:
    """The run's event lines from ``from_seq`` (without their newline), as written."""
    for record in _backend(folder).follow(folder, from_seq=from_seq):
        yield record.line


def _backend(folder: RunFolder) -> LocalBackend:
    return LocalBackend(RunRegistry(folder.path.parent))


def _in_state(action: Callable[[], None]) -> None:
    """``action``, whose refusal (the run is not paused, say) is a ``state`` error."""
    try:
        action()
    except UsageError as error:
        raise HostSideError("state", str(error)) from None
