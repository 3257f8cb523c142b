"""A training host's side of remote training, driven as the app drives it over SSH.

Every command runs as SSH would start it: a process of its own, argv in, JSON
on stdin, JSON on stdout. The "host" has Datayard folders of its own (a
temporary XDG root without a settings file) and no keyring it could reach:
all a run needs comes with the request. The trainings are real and tiny, on
the CPU, against the real store.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from datayard.core.training.host_side import HOST_PROTOCOL
from datayard.core.training.local import LocalBackend
from datayard.core.training.mirror import artifact_key, run_key
from datayard.core.training.protocol import (
    Batch,
    Epoch,
    Failed,
    Finished,
    Paused,
    Preparing,
    Setup,
    Stopped,
    TrainingEvent,
    decode,
)
from datayard.core.training.runs import RunFolder, RunRecord, RunRegistry
from tests.e2e.test_training import (
    no_network,  # noqa: F401 - every worker stays offline
    stored_events,
)
from tests.fixtures.services import S3Server
from tests.fixtures.training import TrainingStore, published_shapes

NO_KEYRING = ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")
"""What leads a process to this session's Secret Service, when a test started one."""


@dataclass(frozen=True)
class Host:
    """The training host: its user's Datayard folders and the runs root the app names."""

    root: Path

    @property
    def runs(self) -> str:
        return str(self.root / "runs")

    def environment(self) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if k not in NO_KEYRING}
        for variable, folder in (
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_RUNTIME_DIR", "runtime"),
        ):
            environment[variable] = str(self.root / folder)
        return environment

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "datayard.cli", *args]

    def run(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self.command("host-side", *args),
            input=stdin,
            capture_output=True,
            env=self.environment(),
            cwd=self.root,
            timeout=120,
        )

    def answer(self, *args: str, stdin: bytes = b"") -> dict[str, Any]:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, done.stdout + done.stderr
        return answer_in(done.stdout)

    def refusal(self, *args: str, stdin: bytes = b"") -> dict[str, Any]:
        """The error answer, without its header; its message is checked to be one line."""
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 2, done.stdout + done.stderr
        answer = answer_in(done.stdout)
        assert set(answer) == {"error", "kind"} and "\n" not in answer["error"]
        return answer

    def following(self, folder: str, from_seq: int = 0) -> subprocess.Popen[bytes]:
        """``follow`` running, the first line of its answer read."""
        process = subprocess.Popen(
            self.command("host-side", "follow", folder, "--from-seq", str(from_seq)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.environment(),
            cwd=self.root,
        )
        assert process.stdout is not None
        assert answer_in(process.stdout.readline()) == {}
        return process

    def follow(self, folder: str, from_seq: int = 0) -> Iterator[bytes]:
        """The event lines of ``follow``, newline included, as they come, to its end."""
        with self.following(folder, from_seq) as process:
            assert process.stdout is not None and process.stderr is not None
            try:
                yield from process.stdout
                assert process.wait(timeout=60) == 0, process.stderr.read()
            finally:
                if process.poll() is None:
                    process.kill()


def answer_in(stdout: bytes) -> dict[str, Any]:
    """The one JSON object of an answer, less the header every answer carries."""
    (line,) = stdout.splitlines()
    answer = json.loads(line)
    assert answer.pop("protocol") == HOST_PROTOCOL
    assert answer.pop("datayard") == importlib.metadata.version("datayard")
    return dict(answer)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A home with nothing of Datayard in it yet; no worker outlives a test that failed."""
    root = tmp_path / "host"
    root.mkdir()
    yield Host(root)
    backend = LocalBackend(RunRegistry((root / "runs").resolve()))
    for folder in backend.registry:
        if backend.alive(folder):
            backend.kill(folder)


@pytest.fixture
def store(s3_server: S3Server) -> TrainingStore:
    """The dataset in the store; no profile names it on the host, or anywhere."""
    return published_shapes(s3_server)


def new_record(store: TrainingStore, **spec: object) -> RunRecord:
    """A run as the app launches it: its id made there, its spec naming the app's profile."""
    now = datetime.now(UTC)
    return RunRecord(
        run_id=f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
        spec=store.spec(**spec),
        dataset=store.ref,
        backend="ssh",
        launched_at=now.isoformat(timespec="seconds"),
    )


def start_request(store: TrainingStore, record: RunRecord, *, resume: bool = False) -> bytes:
    return json.dumps(
        {
            "protocol": HOST_PROTOCOL,
            "record": json.loads(record.to_json()),
            "profile": dataclasses.asdict(store.profile()),
            "secret": store.server.secret,
            "resume": resume,
        }
    ).encode()


def event_of(line: bytes) -> TrainingEvent:
    record = decode(line.decode())
    assert record is not None, line
    return record.event


def lines_of(data: bytes) -> list[bytes]:
    return [f"{line}\n".encode() for line in data.decode().split("\n")[:-1]]


def assert_secret_not_in_processes(pid: int, secret: bytes) -> None:
    """Not in the command line or environment of the worker and its children; and the pipe
    that brought it is closed."""
    worker = psutil.Process(pid)
    for process in (worker, *worker.children(recursive=True)):
        for name in ("cmdline", "environ"):
            assert secret not in Path(f"/proc/{process.pid}/{name}").read_bytes(), name
    assert os.readlink(f"/proc/{pid}/fd/0") == os.devnull


def files_holding(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_a_run_is_paused_resumed_and_followed_from_anywhere_its_secret_in_memory_only(
    host: Host, store: TrainingStore
) -> None:
    secret = store.server.secret.encode()
    epochs = 6  # room for a slow machine: the pause must land before the last epoch
    record = new_record(store, epochs=epochs)

    started = host.answer("start", host.runs, stdin=start_request(store, record))

    folder = RunFolder(Path(started["folder"]))
    assert folder.path == (host.root / "runs" / record.run_id).resolve()
    assert folder.record() == record and folder.pid() == started["pid"]
    before: list[bytes] = []
    for line in host.follow(started["folder"]):
        before.append(line)
        event = event_of(line)
        if isinstance(event, Batch) and event.step == 1:
            assert_secret_not_in_processes(started["pid"], secret)
        elif isinstance(event, Epoch) and event.epoch == 1:
            assert host.answer("control", started["folder"], "pause") == {}
    paused = event_of(before[-1])
    assert isinstance(paused, Paused) and paused.resumable and paused.epochs_done < epochs
    status = host.answer("status", started["folder"])
    assert status == {"alive": False, "status": "paused", "next_seq": len(before)}

    resumed = host.answer("start", host.runs, stdin=start_request(store, record, resume=True))
    after = list(host.follow(started["folder"], from_seq=len(before)))

    assert resumed["folder"] == started["folder"] and resumed["pid"] != started["pid"]
    written = folder.events_file.read_bytes()
    assert b"".join(before + after) == written
    resuming = event_of(after[0])
    assert isinstance(resuming, Preparing) and resuming.phase == "resuming"
    setup = next(e for e in map(event_of, after) if isinstance(e, Setup))
    assert setup.start_epoch == paused.epochs_done + 1
    finished = event_of(after[-1])
    assert isinstance(finished, Finished) and finished.epochs_done == epochs
    lines = lines_of(written)
    for start in (0, len(before) // 2, len(before) + 2, len(lines)):
        assert list(host.follow(started["folder"], from_seq=start)) == lines[start:], start
    status = host.answer("status", started["folder"])
    assert status == {"alive": False, "status": "finished", "next_seq": len(lines)}
    refused = host.refusal("control", started["folder"], "stop")
    assert refused == {"error": f"run {record.run_id} is not running (finished)", "kind": "state"}

    bucket = store.bucket
    assert stored_events(bucket, record.run_id) == [line.decode()[:-1] for line in lines]
    for name in ("train/weights/best.pt", "train/weights/last.pt", "train/results.csv"):
        assert bucket.exists(artifact_key(record.run_id, name)), name
    stored = [o.key for o in bucket.objects(run_key(record.run_id, ""))]
    assert [key for key in stored if secret in bucket.get_bytes(key)] == []
    assert files_holding(host.root, secret) == []
    assert not (host.root / "config" / "datayard" / "settings.toml").exists()


def test_a_follower_whose_connection_drops_ends_quietly_and_stop_ends_the_run(
    host: Host, store: TrainingStore
) -> None:
    record = new_record(store, epochs=50)
    started = host.answer("start", host.runs, stdin=start_request(store, record))

    with host.following(started["folder"]) as lost:
        assert lost.stdout is not None and lost.stderr is not None
        for line in lost.stdout:
            if isinstance(event_of(line), Batch):
                break
        lost.stdout.close()  # as SSH does when the connection drops
        assert lost.wait(timeout=120) == 0 and lost.stderr.read() == b""
    assert host.answer("control", started["folder"], "stop") == {}
    stopped = [event_of(line) for line in host.follow(started["folder"])][-1]

    assert isinstance(stopped, Stopped) and stopped.epochs_done < 50
    assert "train/weights/best.pt" in stopped.weights
    status = host.answer("status", started["folder"])
    assert (status["alive"], status["status"]) == (False, "stopped")


def test_a_killed_worker_is_reported_failed_with_the_reason(
    host: Host, store: TrainingStore
) -> None:
    crashed, killed = (
        host.answer("start", host.runs, stdin=start_request(store, new_record(store, epochs=50)))
        for _ in range(2)
    )

    os.kill(crashed["pid"], signal.SIGKILL)  # as the out-of-memory killer would
    assert host.answer("control", killed["folder"], "kill") == {}

    for started, reason in ((crashed, "crashed"), (killed, "killed")):
        status = host.answer("status", started["folder"])
        assert (status["alive"], status["status"], status["reason"]) == (False, "failed", reason)
        last = RunFolder(Path(started["folder"])).events()[-1]
        assert isinstance(last, Failed) and last.message == status["message"]


def test_requests_that_cannot_be_carried_out_are_answered_in_json(
    host: Host, store: TrainingStore
) -> None:
    missing = str(host.root / "runs" / "20260101-000000-abcdef")
    for args in (("status", missing), ("control", missing, "stop"), ("follow", missing)):
        refused = host.refusal(*args)
        assert refused["kind"] == "no-run" and missing in refused["error"], args

    cut_short = b'{"protocol": 1, "record": '
    assert host.refusal("start", host.runs, stdin=cut_short)["kind"] == "request"
    record = new_record(store)
    older = start_request(store, record).replace(b'"protocol": 1', b'"protocol": 0')
    assert host.refusal("start", host.runs, stdin=older)["kind"] == "protocol"
    escape = dataclasses.replace(record, run_id="../../escape")
    refused = host.refusal("start", host.runs, stdin=start_request(store, escape))
    assert refused == {
        "error": "the request on stdin: record.run_id is not a run id ('../../escape')",
        "kind": "request",
    }
    assert host.refusal("control", host.runs, "restart")["kind"] == "usage"

    # A run that never got to train (its host restarted, say) has no checkpoint, and is
    # not new.
    RunRegistry(host.root / "runs").add(record)
    refused = host.refusal("start", host.runs, stdin=start_request(store, record, resume=True))
    assert refused == {
        "error": f"run {record.run_id} failed before its first epoch ended (crashed): it has "
        f"no checkpoint to resume from; start it again with `datayard train --clone "
        f"{record.run_id}`",
        "kind": "state",
    }
    resume = json.loads(start_request(store, record, resume=True))
    resume["events"] = ['{"v": 1, "seq": 0, "type": "batch"}']
    refused = host.refusal("start", host.runs, stdin=json.dumps(resume).encode())
    assert refused["kind"] == "request"
    assert refused["error"].startswith(
        "the request on stdin: events[0] is refused: a batch event is missing"
    )
    refused = host.refusal("start", host.runs, stdin=start_request(store, record))
    assert refused["kind"] == "state" and "on this host already" in refused["error"]
    assert files_holding(host.root, store.server.secret.encode()) == []


NOT_X509 = f"-----BEGIN CERTIFICATE-----\n{'A' * 64}\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("sent", "problem"),
    [
        ("a CA, trust me", "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        (NOT_X509, "has a certificate block that is not an X.509 certificate (block 1)"),
        (NOT_X509.replace("A" * 64, "A" * (1 << 20)), "is larger than 1.0 MiB"),
        (7, "is not a string (7)"),
    ],
    ids=["not-pem", "not-x509", "too-large", "not-text"],
)
def test_ca_certificates_that_are_not_pem_certificates_are_refused(
    host: Host, store: TrainingStore, sent: object, problem: str
) -> None:
    request = json.loads(start_request(store, new_record(store)))
    request["ca_certificates"] = sent

    refused = host.refusal("start", host.runs, stdin=json.dumps(request).encode())

    assert refused["kind"] == "request"
    assert refused["error"] == f"the request on stdin: ca_certificates {problem}"
    assert list(RunRegistry(host.root / "runs")) == []


def test_a_worker_handed_unusable_credentials_fails_the_run_saying_why(
    host: Host, store: TrainingStore
) -> None:
    folder = RunRegistry(host.root / "runs").add(new_record(store))
    sent = {"profile": {"endpoint": store.server.endpoint}, "secret": store.server.secret}

    worked = subprocess.run(
        host.command("worker", str(folder.path), "--credentials-on-stdin"),
        input=json.dumps(sent).encode(),
        capture_output=True,
        env=host.environment(),
        timeout=120,
    )

    message = "the credentials on stdin: profile.name is missing"
    assert worked.returncode == 2
    assert worked.stderr.decode().splitlines() == [f"error: {message}"]
    (line,) = worked.stdout.splitlines()  # the events, which a backend appends to the run's file
    failed = event_of(line)
    assert isinstance(failed, Failed) and failed.message == message
    assert files_holding(host.root, store.server.secret.encode()) == []
