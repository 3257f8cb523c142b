"""A training host's side of remote training, driven as the app drives it over SSH.

Every command runs as SSH would start it: a process of its own, argv in, JSON
on stdin, JSON on stdout. The "host" has Datayard folders of its own (a
temporary XDG root without a settings file) and no keyring it could reach:
all a run needs comes with the request. The trainings are real and tiny, on
the CPU, against the real store.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datayard.core.training.protocol import (
    Failed,
    TrainingEvent,
    decode,
)
from datayard.core.training.runs import RunRecord, RunRegistry
from tests.e2e.test_training import (
    no_network,  # noqa: F401 - every worker stays offline
)
from tests.fixtures.services import S3Server
from tests.fixtures.training import TrainingStore, published_shapes

NO_KEYRING = ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")
"""What leads a process to this session's Secret Service, when a test started one."""


@dataclass(frozen=True)
class Host:
    """The training host: its user's Datayard folders."""

    root: Path

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


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """A home with nothing of Datayard in it yet."""
    root = tmp_path / "host"
    root.mkdir()
    return Host(root)


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


def event_of(line: bytes) -> TrainingEvent:
    record = decode(line.decode())
    assert record is not None, line
    return record.event


def files_holding(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


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
