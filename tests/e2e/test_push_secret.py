"""The desktop app's push runs in a child process, which gets the store's secret through its pipe.

A command line and an environment can be read by other processes of the same
user (``ps e``, ``/proc/<pid>/environ``); the secret must be in neither.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from datayard.core.datasets.push import PushResult
from datayard.core.datasets.push.request import PushRequest, run_request
from datayard.core.events import run_to_end
from datayard.core.secrets import SecretStore
from datayard.core.store.workspace import Workspace
from tests.e2e.test_push import write_images
from tests.fixtures.datasets import fresh_bucket
from tests.fixtures.services import S3Server
from tests.fixtures.store_proxy import StoreProxy, blob_request


def push_process() -> psutil.Process:
    """The child process that multiprocessing started for the push."""
    (child,) = (p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline()))
    return child


@pytest.mark.usefixtures("secret_service")
def test_the_push_process_has_the_secret_on_neither_its_command_line_nor_its_environment(
    s3_server: S3Server, store_proxy: StoreProxy, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    workspace = Workspace.default()
    profile = replace(bucket.profile, name="lab", endpoint=store_proxy.endpoint)
    workspace.save(workspace.settings().with_profile(profile))
    SecretStore().set("lab", s3_server.secret)
    source = write_images(tmp_path / "photos", 3)
    hold = store_proxy.hold(blob_request("PUT"))  # the push waits there, its process alive

    with ThreadPoolExecutor(1) as thread:
        pushing = thread.submit(list, run_request(workspace, PushRequest((source,), "set", "lab")))
        try:
            assert hold.holding.wait(120), "the push never uploaded"
            child = push_process()
            command_line = Path(f"/proc/{child.pid}/cmdline").read_bytes()
            environment = Path(f"/proc/{child.pid}/environ").read_bytes()
        finally:
            hold.release()
        events = pushing.result(timeout=120)

    assert b"spawn_main" in command_line and b"XDG_CONFIG_HOME=" in environment  # the push's
    assert s3_server.secret.encode() not in command_line
    assert s3_server.secret.encode() not in environment
    assert run_to_end(events, PushResult).manifest is not None  # it had the secret all the same
