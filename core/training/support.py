"""Whether this computer can train, and which Python runs its workers.

A Python install of Datayard with the ``train`` extra trains with its own
interpreter. The packaged app cannot: its executable is the app, not a
Python, and it carries no torch or Ultralytics. It trains with this
computer's worker environment instead, the one ``datayard host setup local``
makes as it makes a host's, which runs the same ``datayard.cli worker``
entry with this exact Datayard version. The CLI and the app ask the same
question here, so they give the same answer.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from importlib.metadata import version

from datayard.core.bundle import bundled, program_environment
from datayard.core.errors import UsageError
from datayard.core.hosts import probe_script
from datayard.core.hosts.probe import worker_problem
from datayard.core.hosts.registry import LOCAL_HOST

INSTALL_HINT = (
    f"install training support with 'datayard host setup {LOCAL_HOST}' "
    "(in the app: Install training support, in the Train dialog)"
)


@dataclass(frozen=True)
class TrainingSupport:
    """The facts that decide the Python of this computer's workers."""

    running: str
    """This interpreter, when it can train (torch and Ultralytics are installed beside
    it); empty in the packaged app and in an install without the ``train`` extra."""
    environment: str
    """The Python of this computer's worker environment."""
    environment_problem: str
    """Why that environment cannot run this version's workers; empty when it can."""

    @classmethod
    def here(cls) -> TrainingSupport:
        """This computer's facts; looking at the worker environment runs its Python once."""
        found = probe_script.worker(version("datayard"), program_environment())
        return cls(
            running=sys.executable if interpreter_trains() else "",
            environment=found["worker_python"],
            environment_problem=worker_problem(found["worker"], found["worker_error"]),
        )

    @property
    def python(self) -> str | None:
        """This interpreter when it trains, else the worker environment's Python when it is
        ready for this version, else None: this computer cannot train."""
        if self.running:
            return self.running
        return None if self.environment_problem else self.environment

    def worker_python(self) -> str:
        """:attr:`python`, or the refusal that says how to install training support."""
        if self.python is None:
            raise UsageError(f"this computer cannot train yet: {self.why_not()}")
        return self.python

    def why_not(self) -> str:
        return (
            "this Datayard has no torch and Ultralytics, and the worker environment "
            f"{self.environment} is not ready ({self.environment_problem}); {INSTALL_HINT}"
        )


def interpreter_trains() -> bool:
    """Whether this process's interpreter can run a worker: a Python (the packaged app's
    executable is not one) with torch and Ultralytics, found without importing them."""
    if bundled():
        return False
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "ultralytics"))
