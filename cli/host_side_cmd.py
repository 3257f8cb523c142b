"""``datayard host-side``: what the app runs on a training host over SSH.

Answers are JSON on stdout, errors included, for the app to parse: the
protocol is described in :mod:`datayard.core.training.host_side`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from datayard.core.errors import DatayardError
from datayard.core.training import host_side
from datayard.core.training.host_side import CONTROLS, HostSideError, StartRequest
from datayard.core.training.worker import take_stdin

RUN_FOLDER = click.Path(path_type=Path)
"""Checked by the commands, which answer a missing run in JSON like every other error."""


class HostSideGroup(click.Group):
    """Turns every refusal, a wrong command line included, into the JSON error answer."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HostSideError as error:
            _refuse(error.kind, str(error), error.exit_code)
        except click.ClickException as error:
            _refuse("usage", error.format_message(), error.exit_code)
        except DatayardError as error:
            _refuse("error", str(error), error.exit_code)


@click.group(name="host-side", cls=HostSideGroup, hidden=True)
def command() -> None:
    """Commands the app runs on a training host; each answers in JSON on stdout."""


@command.command()
@click.argument("runs_root", type=click.Path(path_type=Path, file_okay=False))
def start(runs_root: Path) -> None:
    """Start (or resume) the run that stdin describes, in a worker that outlives this."""
    folder = host_side.start(runs_root, StartRequest.from_json(take_stdin()))
    _answer(pid=folder.pid(), folder=str(folder.path))


@command.command()
@click.argument("run_folder", type=RUN_FOLDER)
def status(run_folder: Path) -> None:
    """Whether the run's worker is alive, the run's status and its next sequence number."""
    _answer(**host_side.status(host_side.open_run(run_folder)))


@command.command()
@click.argument("run_folder", type=RUN_FOLDER)
@click.argument("action", type=click.Choice(sorted(CONTROLS)))
def control(run_folder: Path, action: str) -> None:
    """Ask the run's worker to stop or pause after its batch, or kill it."""
    host_side.control(host_side.open_run(run_folder), action)
    _answer()


@command.command()
@click.argument("run_folder", type=RUN_FOLDER)
@click.option("--from-seq", type=click.IntRange(min=0), default=0, show_default=True)
def follow(run_folder: Path, from_seq: int) -> None:
    """The run's event lines from --from-seq on, as they are written, until it ends."""
    folder = host_side.open_run(run_folder)
    try:
        _answer()
        for line in host_side.follow(folder, from_seq):
            _write(line)
    except BrokenPipeError:
        # The connection went; the run goes on, and the app follows again from where it was.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())  # nothing left to flush at exit
        sys.exit(0)


def _answer(**members: Any) -> None:
    _write(json.dumps({**host_side.header(), **members}, ensure_ascii=False))


def _refuse(kind: str, message: str, code: int) -> NoReturn:
    _answer(error=message, kind=kind)
    sys.exit(code)


def _write(line: str) -> None:
    sys.stdout.buffer.write(f"{line}\n".encode())
    sys.stdout.buffer.flush()
