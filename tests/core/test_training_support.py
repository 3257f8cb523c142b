"""Which Python trains on this computer, decided from the facts of its three cases."""

from __future__ import annotations

import sys
from importlib.metadata import version

import pytest

from datayard.core.errors import UsageError
from datayard.core.paths import AppDirs
from datayard.core.training.support import TrainingSupport, interpreter_trains

ENVIRONMENT = "/srv/datayard/worker/0.1.0/bin/python"


def test_an_interpreter_that_trains_runs_the_workers_whatever_the_environment() -> None:
    """A Python install with the train extra (a development or pip install)."""
    support = TrainingSupport(sys.executable, ENVIRONMENT, "not set up")

    assert support.python == sys.executable
    assert support.worker_python() == sys.executable


def test_without_one_the_ready_worker_environment_runs_them() -> None:
    """The packaged app, after its training support was installed."""
    support = TrainingSupport("", ENVIRONMENT, "")

    assert support.python == ENVIRONMENT
    assert support.worker_python() == ENVIRONMENT


@pytest.mark.parametrize(
    "problem", ["not set up", "it has 0.0.9, this app is Datayard 0.1.0", "it lacks torch"]
)
def test_without_either_a_launch_is_refused_with_how_to_install_training_support(
    problem: str,
) -> None:
    support = TrainingSupport("", ENVIRONMENT, problem)

    assert support.python is None
    with pytest.raises(UsageError) as refused:
        support.worker_python()
    message = str(refused.value)
    assert "this computer cannot train yet" in message
    assert problem in message and ENVIRONMENT in message
    assert "datayard host setup local" in message
    assert "Install training support" in message


def test_this_computer_as_the_tests_run_it() -> None:
    """The suite's interpreter has the train extra; no environment is set up in a test's
    private data folder, and that is where one would be."""
    assert interpreter_trains()
    support = TrainingSupport.here()

    assert support.running == sys.executable
    expected = AppDirs.default().data / "worker" / version("datayard") / "bin" / "python"
    assert support.environment == str(expected)
    assert support.environment_problem == "not set up"
    assert support.python == sys.executable
