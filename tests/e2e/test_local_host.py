"""This computer as the host ``local``: checked and set up with no SSH, as a host is."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from importlib.metadata import version

from datayard.core.paths import AppDirs
from datayard.core.training.support import TrainingSupport
from tests.fixtures.datasets import run_cli


def checks(output: str) -> dict[str, str]:
    """``host test``'s lines by the name of their check."""
    return {line.split()[1]: line for line in output.splitlines() if line[:1] in "✓!✗"}


def test_setup_local_makes_the_worker_environment_that_this_computer_trains_with() -> None:
    before = run_cli("host", "test", "local")

    assert before.returncode == 1, before.stdout + before.stderr
    lines = checks(before.stdout)
    # No login to check, and the workers reach the store as the app does.
    assert list(lines) == ["python", "gpus", "disk", "worker"]
    assert lines["python"].startswith("✓")
    assert lines["worker"].startswith("✗") and "datayard host setup local" in before.stdout

    refused = run_cli("host", "setup", "local", "--python", "python3")
    assert refused.returncode == 2 and "absolute path" in refused.stderr

    setup = run_cli("host", "setup", "local", "--python", sys.executable)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    environment = AppDirs.default().data / "worker" / version("datayard")
    installed = subprocess.run(
        [
            str(environment / "bin" / "python"),
            "-c",
            "import datayard.core as c, importlib.metadata as m; "
            "print(c.__file__, m.version('datayard'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # This exact Datayard, installed from its wheel into the environment, not the checkout.
    assert installed.returncode == 0, installed.stderr
    assert str(environment) in installed.stdout and version("datayard") in installed.stdout

    after = run_cli("host", "test", "local")
    assert after.returncode == 0, after.stdout
    worker = checks(after.stdout)["worker"]
    assert worker.startswith("✓") and f"Datayard {version('datayard')}" in worker

    support = TrainingSupport.here()
    assert support.environment == str(environment / "bin" / "python")
    assert support.environment_problem == ""
    # As in the packaged app, whose own executable cannot train: the environment does.
    assert replace(support, running="").python == support.environment
