"""``host setup``: the worker environment on a host, made by Datayard over SSH, or on
this computer (the host ``local``) with its own shell.

The environment is a virtual environment under the host's data folder, named
for this Datayard's version (``<data>/worker/<version>``), holding this exact
Datayard (its wheel, copied over) and the training extra. Its packages come
from the host's package index, or from a wheelhouse folder on the host for
machines without one. When the user names a Python that already has torch and
Ultralytics (a conda environment, say), the environment is built on it and
sees its packages, so only what is missing is installed.

It is built beside its final place and renamed into it when complete, so a
setup that is interrupted leaves the previous environment, or none, never half
of one; a second setup of a ready environment does nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib.metadata import version
from pathlib import Path

from datayard.core.errors import HostError
from datayard.core.events import CancelToken, check_cancel
from datayard.core.hosts.login import connect
from datayard.core.hosts.probe import MIN_PYTHON, HostFacts, probe, python_command
from datayard.core.hosts.registry import Host
from datayard.core.hosts.wheel import own_wheel
from datayard.core.secrets import SecretStore

DONE_MARK = "DATAYARD-SETUP-DONE"


class Phase(StrEnum):
    """The phases of a setup, in their order; a host already set up skips to the last."""

    CHECKING = "checking"
    WHEEL = "preparing Datayard's wheel"
    COPYING = "copying Datayard's wheel"
    INSTALLING = "installing the worker environment"
    VERIFYING = "checking the environment"
    READY = "ready"


@dataclass(frozen=True)
class SetupStep:
    """A step of the setup, or a line of the installer's output (``detail``)."""

    phase: Phase
    detail: str = ""


def environment_folder(facts: HostFacts) -> str:
    return f"{facts.data_folder}/worker/{version('datayard')}"


def set_up(
    host: Host,
    *,
    cache: Path,
    wheelhouse: str = "",
    force: bool = False,
    secrets: SecretStore | None = None,
    cancel: CancelToken | None = None,
) -> Generator[SetupStep, None, None]:
    """Make the worker environment of ``host`` (its ``python`` the base when it names one).

    Closing the generator early logs out at once."""
    with connect(host, secrets) as connection:
        yield SetupStep(Phase.CHECKING, host.shown)
        facts = probe(connection, host)
        if facts.python_version < MIN_PYTHON:
            shown = ".".join(map(str, facts.python_version))
            raise HostError(
                f"{host.shown}: {facts.python} is Python {shown}; the worker needs "
                "3.11 or newer: install one, or name it with --python"
            )
        if facts.worker_ready and not force:
            yield SetupStep(Phase.READY, f"{facts.worker_python} is already set up")
            return
        yield SetupStep(Phase.WHEEL)
        wheel = own_wheel(cache)
        check_cancel(cancel)
        remote_wheel = f"{facts.data_folder}/worker/wheels/{wheel.name}"
        yield SetupStep(Phase.COPYING, remote_wheel)
        connection.upload(wheel, remote_wheel)
        yield SetupStep(Phase.INSTALLING, environment_folder(facts))
        script = _script(host, facts, remote_wheel, wheelhouse)
        finished = False
        for line in connection.lines(f"sh -c {shlex.quote(script)}", cancel=cancel):
            if line == DONE_MARK:
                finished = True
            elif line.strip():
                yield SetupStep(Phase.INSTALLING, line)
        if not finished:
            raise HostError(
                f"{host.shown}: setting up the worker environment failed (its output "
                "is above); nothing was changed"
            )
        yield SetupStep(Phase.VERIFYING)
        after = probe(connection, host)
        problem = after.worker_problem()
        if problem:
            raise HostError(f"{host.shown}: the new environment is not usable: {problem}")
        yield SetupStep(Phase.READY, f"{after.worker_python} is set up")


def _script(host: Host, facts: HostFacts, wheel: str, wheelhouse: str) -> str:
    """The shell script that builds the environment aside and moves it into place."""
    target = shlex.quote(environment_folder(facts))
    partial = shlex.quote(f"{environment_folder(facts)}.partial")
    source = "--no-index --find-links " + shlex.quote(wheelhouse) if wheelhouse else ""
    # With a Python the user named, its packages (torch...) are seen through a .pth file
    # and only Datayard and what the named Python lacks are installed.
    requirement = shlex.quote(wheel if host.python else f"{wheel}[train]")
    overlay = (
        f"""
base_sites=$({python_command(host)} -c 'import site; print(chr(10).join(site.getsitepackages()))')
own_site=$("$partial/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for dir in $base_sites; do
  echo "import site; site.addsitedir('$dir')" >> "$own_site/datayard-base-python.pth"
done"""
        if host.python
        else ""
    )
    return f"""set -e
target={target}
partial={partial}
rm -rf "$partial"
mkdir -p "$(dirname "$partial")"
{python_command(host)} -m venv "$partial" 2>&1 || {{
  echo "the host's Python cannot make a virtual environment: install its venv module"
  echo "(Debian and Ubuntu: apt install python3-venv)"; exit 3; }}{overlay}
"$partial/bin/python" -m pip install --disable-pip-version-check --no-input \\
  --progress-bar off {source} {requirement} 2>&1
rm -rf "$target.old"
if [ -e "$target" ]; then mv "$target" "$target.old"; fi
mv "$partial" "$target"
rm -rf "$target.old"
echo {DONE_MARK}
"""


def with_base_python(host: Host, python: str | None) -> Host:
    """``host`` with the Python the user named for it, when they named one."""
    return replace(host, python=python).validated() if python else host
