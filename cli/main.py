"""The ``datayard`` command.

Every failure a user can cause ends as one readable line and an exit code
(1: the work found problems or failed, 2: usage or configuration error), never
as a traceback; ``--debug`` shows the traceback for bug reports. Sub-commands
are imported only when used, so ``datayard --help`` stays quick.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from datayard.core.errors import DatayardError
from datayard.core.events import Cancelled
from datayard.core.logs import quiet_http_client

# name -> module under datayard.cli that defines ``command`` (or "module:attribute")
COMMANDS = {
    "scan": "scan_cmd",
    "check": "check_cmd",
    "push": "push_cmd",
    "pull": "pull_cmd",
    "datasets": "datasets_cmd",
    "show": "show_cmd",
    "diff": "diff_cmd",
    "verify": "verify_cmd",
    "gc": "gc_cmd",
    "models": "models_cmd",
    "locks": "locks_cmd",
    "unlock": "locks_cmd:unlock",
    "profile": "profile_cmd",
    "store": "store_cmd",
    "host": "host_cmd",
    "cluster": "cluster_cmd",
    "worker": "worker_cmd",
    "host-side": "host_side_cmd",
    "train": "train_cmd",
    "runs": "runs_cmd",
    "logs": "runs_cmd:logs",
    "show-run": "runs_cmd:show_run",
    "stop": "runs_cmd:stop",
    "pause": "runs_cmd:pause",
    "resume": "runs_cmd:resume",
    "fetch": "runs_cmd:fetch",
    "export": "export_cmd",
    "predict": "predict_cmd",
    "archive": "archive_cmd",
}

log = logging.getLogger(__name__)


class DatayardGroup(click.Group):
    """Loads sub-commands lazily; turns the project's errors and Ctrl-C into exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, _, attribute = COMMANDS[cmd_name].partition(":")
            module = importlib.import_module(f"{__package__}.{module_name}")
            command: click.Command = getattr(module, attribute or "command")
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        from rich.text import Text

        from .render import INTERRUPTED, console

        try:
            return super().invoke(ctx)
        except DatayardError as error:
            log.debug("command failed", exc_info=True)
            console.print(Text.assemble(("error:", "bold red"), f" {error}"))
            sys.exit(error.exit_code)
        except (KeyboardInterrupt, Cancelled):
            console.print(Text("stopped", style="yellow"))
            sys.exit(INTERRUPTED)


@click.group(cls=DatayardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Log details and show tracebacks.")
@click.version_option(package_name="datayard")
def cli(debug: bool) -> None:
    """Datayard: check image sets, version them in MinIO, train YOLO models."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    quiet_http_client(debug=debug)


@cli.command()
def gui() -> None:
    """Open the desktop app."""
    from datayard.gui.app import main as gui_main

    sys.exit(gui_main([]))


def main() -> None:
    cli(prog_name="datayard")
