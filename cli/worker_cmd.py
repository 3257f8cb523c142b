"""``datayard worker``: the process that trains one run, started by a backend."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn, TextIO

import click

from datayard.core.errors import UsageError
from datayard.core.paths import AppDirs
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.core.training import credentials
from datayard.core.training.runs import RUN_FILE, RunFolder
from datayard.core.training.store_start import (
    cache_root,
    check_run_id,
    runs_root,
    start_from_store,
)
from datayard.core.training.worker import refuse, run, take_stdin, take_stdout


@click.command(name="worker", hidden=True)
@click.argument("run_folder", type=click.Path(path_type=Path, exists=True), required=False)
@click.option("--resume", is_flag=True, help="Continue from the run's last checkpoint.")
@click.option(
    "--credentials-on-stdin",
    is_flag=True,
    help="Reach the store with the profile and secret read from stdin (JSON), "
    "not with a profile of this machine.",
)
@click.option(
    "--from-store",
    "run_id",
    metavar="RUN_ID",
    help="Train the run whose record is in the store, with the profile and secret of "
    f"${credentials.ENVIRONMENT_VARIABLE}: as a pod does. Its stored events say whether "
    "it starts or resumes.",
)
def command(
    run_folder: Path | None, resume: bool, credentials_on_stdin: bool, run_id: str | None
) -> None:
    """Train the run described by RUN_FOLDER/run.json, speaking JSON lines on stdout.

    Backends start this; users launch runs with `datayard train`.
    """
    if run_id is not None:
        if run_folder is not None or resume or credentials_on_stdin:
            raise UsageError(
                "--from-store takes the run and its credentials from the store and the "
                "environment: give it no RUN_FOLDER, --resume or --credentials-on-stdin"
            )
        _from_store(run_id)
    if run_folder is None:
        raise UsageError("give a RUN_FOLDER, or --from-store RUN_ID")
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
    _exit(
        events,
        run(folder, events, resume=resume, workspace=Workspace.default(), connection=connection),
    )


def _from_store(run_id: str) -> NoReturn:
    """The run's folder made from the store, trained as any other: a pod's worker."""
    connection = credentials.from_environment()
    check_run_id(run_id)
    events = take_stdout()
    dirs = AppDirs.default()
    bucket = Bucket(connection.profile, connection.secret)
    start = start_from_store(bucket, run_id, runs_root(dirs))
    _exit(
        events,
        run(
            start.folder,
            events,
            resume=start.resume,
            workspace=Workspace(dirs),
            connection=connection,
            cache=cache_root(),
            unstored_from=start.unstored_from,
        ),
    )


def _exit(events: TextIO, code: int) -> NoReturn:
    """Every event is written and every upload done: skip the interpreter's teardown,
    which takes a second with torch loaded, and which whoever waits for us would wait out."""
    events.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
