"""A pod's store credentials, taken from the worker's environment before anything else."""

from __future__ import annotations

import subprocess

import pytest

from datayard.core.settings import Profile
from datayard.core.store.workspace import Connection
from datayard.core.training import credentials
from datayard.core.training.credentials import ENVIRONMENT_VARIABLE


def test_the_credentials_leave_the_environment_so_that_no_child_inherits_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = Connection(
        Profile(name="lab", endpoint="http://minio.lab:9000", bucket="data", access_key="AK"),
        "the-secret-key",
    )
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, credentials.encode(connection).decode())

    assert credentials.from_environment() == connection

    child = subprocess.run(["env"], capture_output=True, text=True, check=True)
    assert ENVIRONMENT_VARIABLE not in child.stdout and "the-secret-key" not in child.stdout
