"""``datayard host``: the machines that train over SSH, and this computer as ``local``."""

from __future__ import annotations

import sys

import click
from rich.table import Table
from rich.text import Text

from datayard.core.errors import HostKeyUnknownError, HostPassphraseError, UsageError
from datayard.core.hosts.enrolment import add_host, remove_host
from datayard.core.hosts.local import this_computer
from datayard.core.hosts.login import stored_passphrase
from datayard.core.hosts.probe import test_host
from datayard.core.hosts.registry import LOCAL_HOST, Host, HostRegistry
from datayard.core.hosts.ssh import accept_host_key
from datayard.core.hosts.worker_env import set_up, with_base_python
from datayard.core.store.workspace import Workspace

from .render import console, out, show_checks
from .versions import profile_option


@click.group(name="host")
def command() -> None:
    """Machines that train over SSH: add, list, remove and test them.

    A host is reached as `ssh` reaches it: ~/.ssh/config, the ssh-agent and
    ~/.ssh/known_hosts apply. The host `local` is this computer.
    """


@command.command()
@click.argument("name")
@click.argument("destination")
@click.option(
    "--accept-host-key",
    "fingerprint",
    metavar="SHA256:...",
    help="Accept the host's key if it has this fingerprint (what `ssh-keygen -lf` shows).",
)
def add(name: str, destination: str, fingerprint: str | None) -> None:
    """Add host NAME, reached at DESTINATION (user@host[:port] or a Host of ~/.ssh/config).

    The first login checks the host's key: an unknown one is shown with its
    fingerprint and accepted only when you confirm it (or pass it with
    --accept-host-key); a changed one is refused.
    """
    workspace = Workspace.default()
    registry = HostRegistry(workspace.dirs.config)
    host = Host(name=name, destination=destination).validated()
    registry.check_new(name)
    _log_in_and_add(registry, host, workspace, fingerprint)
    console.print(Text.assemble("Added host ", (name, "bold"), f" ({destination})."))


def _log_in_and_add(
    registry: HostRegistry, host: Host, workspace: Workspace, fingerprint: str | None
) -> None:
    """One login, settling the host key and the key passphrase on the way."""
    passphrase = None
    for _ in range(3):
        try:
            add_host(registry, host, workspace.secrets, passphrase=passphrase)
            return
        except HostKeyUnknownError as error:
            _settle_host_key(error, fingerprint)
        except HostPassphraseError as error:
            if not error.needed:
                raise
            passphrase = _ask_passphrase(str(error))
    raise UsageError(f"could not log in to host {host.name!r}")


def _settle_host_key(error: HostKeyUnknownError, fingerprint: str | None) -> None:
    if fingerprint is not None:
        if fingerprint.strip() != error.fingerprint:
            raise UsageError(
                f"the host presents the key {error.fingerprint}, not {fingerprint}: not accepted"
            ) from error
    elif sys.stdin.isatty():
        console.print(Text(str(error)))
        if not click.confirm("Accept this host key?", default=False, err=True):
            raise UsageError("host key not accepted; the host was not added") from error
    else:
        raise UsageError(
            f"{error}. After checking, run again with --accept-host-key {error.fingerprint}"
        ) from error
    path = accept_host_key(error.known_hosts_line)
    console.print(Text(f"Added the host key {error.fingerprint} to {path}."))


def _ask_passphrase(why: str) -> str:
    if not sys.stdin.isatty():
        raise UsageError(f"{why}: run this command in a terminal to give it")
    console.print(Text(why))
    passphrase: str = click.prompt("Key passphrase", hide_input=True, err=True)
    return passphrase


@command.command(name="list")
def list_hosts() -> None:
    """The hosts added, with their destinations."""
    hosts = HostRegistry(Workspace.default().dirs.config).all()
    if not hosts:
        console.print(Text("No hosts yet; add one with 'datayard host add NAME user@host'."))
        return
    table = Table("Host", "Destination", "Python")
    for host in hosts:
        table.add_row(
            Text(host.name), Text(host.destination), Text(host.python or "set up by Datayard")
        )
    out.print(table)


@command.command()
@click.argument("name")
def remove(name: str) -> None:
    """Forget host NAME (runs that trained there stay listed), and its key passphrase."""
    workspace = Workspace.default()
    remove_host(HostRegistry(workspace.dirs.config), name, workspace.secrets)
    console.print(Text.assemble("Removed host ", (name, "bold"), "."))


@command.command()
@click.argument("name")
@click.option(
    "--python",
    metavar="PATH",
    help="Build on this Python of the host, which has torch and Ultralytics already.",
)
@click.option(
    "--wheelhouse",
    metavar="FOLDER",
    help="Install from this folder of wheels on the host, not from its package index.",
)
@click.option("--force", is_flag=True, help="Build the environment again even if it is ready.")
def setup(name: str, python: str | None, wheelhouse: str | None, force: bool) -> None:
    """Make host NAME able to train: a worker environment with this Datayard version.

    It goes under the host's ~/.local/share/datayard/worker/VERSION and takes a
    few minutes the first time (torch is large); running it again does nothing
    when the environment is ready. NAME `local` is this computer: its training
    support, which the packaged app needs to train.
    """
    workspace = Workspace.default()
    registry = HostRegistry(workspace.dirs.config)
    local = name == LOCAL_HOST
    host = this_computer(python or "") if local else with_base_python(registry.get(name), python)
    phase = ""
    for step in set_up(
        host,
        cache=workspace.dirs.cache,
        wheelhouse=wheelhouse or "",
        force=force,
        secrets=workspace.secrets,
    ):
        if step.phase != phase:
            phase = step.phase
            console.print(
                Text.assemble((step.phase, "bold"), f": {step.detail}" if step.detail else "")
            )
        else:
            console.print(Text(f"  {step.detail}", style="dim"))
    if python and not local:
        registry.update(host)


@command.command(name="test")
@click.argument("name")
@profile_option
def test(name: str, profile_name: str | None) -> None:
    """Check host NAME: login, Python, GPUs, disk, the store and the worker environment.

    Exit status 1 when a check fails; warnings (no GPU, a store reached only
    through a tunnel) do not fail. NAME `local` checks this computer.
    """
    workspace = Workspace.default()
    host = this_computer() if name == LOCAL_HOST else HostRegistry(workspace.dirs.config).get(name)
    checks = test_host(
        host,
        store_endpoint=workspace.endpoint(profile_name),
        passphrase=stored_passphrase(host, workspace.secrets),
    )
    if not show_checks(checks):
        sys.exit(1)
