"""``datayard store``: the embedded SeaweedFS object store."""

from __future__ import annotations

import click

from datayard.core.store.embedded import StopOutcome
from datayard.core.store.workspace import Workspace

from .render import console, out

_STOPPED = {
    StopOutcome.NOT_RUNNING: "The embedded store was not running.",
    StopOutcome.STOPPED: "Stopped the embedded store.",
    StopOutcome.KILLED: "Stopped the embedded store by killing it: it did not shut down in time.",
}


@click.group(name="store")
def command() -> None:
    """Start, stop or inspect the embedded object store (profile 'local')."""


@command.command()
def start() -> None:
    """Start the embedded store (or reuse the running one); it keeps running after exit."""
    workspace = Workspace.default()
    connection = workspace.start_local()
    console.print(f"The embedded store runs at {connection.profile.endpoint}.")


@command.command()
def stop() -> None:
    """Stop the embedded store."""
    console.print(_STOPPED[Workspace.default().stop_local()])


@command.command()
def status() -> None:
    """Say whether the embedded store runs, where, and where its data lives."""
    state = Workspace.default().local_status()
    if state.running:
        out.print(f"running  pid {state.pid}  {state.endpoint}  data {state.data_dir}")
    else:
        out.print(f"stopped  data {state.data_dir}")
    raise SystemExit(0 if state.running else 3)
