"""``datayard worker``: the process that trains one run, started by a backend."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from datayard.core.errors import UsageError
from datayard.core.store.workspace import Workspace
from datayard.core.training import credentials
from datayard.core.training.runs import RUN_FILE, RunFolder
from datayard.core.training.worker import refuse, run, take_stdin, take_stdout


@click.command(name="worker", hidden=True)
@click.argument("run_folder", type=click.Path(path_type=Path, exists=True))
@click.option("--resume", is_flag=True, help="Continue from the run's last checkpoint.")
@click.option(
    "--credentials-on-stdin",
    is_flag=True,
    help="Reach the store with the profile and secret read from stdin (JSON), "
    "not with a profile of this machine.",
)
def command(run_folder: Path, resume: bool, credentials_on_stdin: bool) -> None:
    """Train the run described by RUN_FOLDER/run.json, speaking JSON lines on stdout.

    Backends start this; users launch runs with `datayard train`.
    """
    folder = RunFolder(run_folder.parent if run_folder.name == RUN_FILE else run_folder)
    if not folder.record_file.is_file():
        raise UsageError(f"{folder.path} holds no {RUN_FILE}: not a run folder")
    events = take_stdout()
    connection = None
    if credentials_on_stdin:
        try:
            connection = credentials.decode(take_stdin())
        except UsageError as error:
            refuse(folder, events, error)
            raise
    code = run(folder, events, resume=resume, workspace=Workspace.default(), connection=connection)
    # Every event is written and every upload done: skip the interpreter's teardown,
    # which takes a second with torch loaded, and which whoever waits for us would wait out.
    events.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
