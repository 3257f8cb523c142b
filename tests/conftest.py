"""Test set-up shared by every suite: private folders, Qt offscreen, real services."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from datayard.core.paths import AppDirs
from datayard.core.store.embedded import EmbeddedStore

# Before pytest-qt creates the QApplication: no display is needed.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.ssh_host",
    "tests.fixtures.remote_host",
    "tests.fixtures.store_proxy",
    "tests.fixtures.messy_tree",
    "tests.fixtures.private_ca",
    "tests.fixtures.training",
    "tests.fixtures.base_weights",
    "tests.fixtures.cluster_api",
]


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every platformdirs folder at the test's own temporary folder.

    Nothing a test does may read or change the real user's settings or data,
    and an embedded store a test started is stopped even when the test fails.
    """
    home = tmp_path / "home"
    for variable, folder in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        path = home / folder
        path.mkdir(parents=True)
        monkeypatch.setenv(variable, str(path))
    yield home
    EmbeddedStore.in_dirs(AppDirs.default()).stop()
