"""``datayard export``: smaller models of a run, each compared with the full one."""

from __future__ import annotations

import sys
from contextlib import redirect_stdout

import click
from rich.table import Table

from datayard.core.paths import AppDirs
from datayard.core.training.export import FORMATS, export_run
from datayard.core.training.local import LocalBackend
from datayard.core.units import size

from .render import console, out


@click.command(name="export")
@click.argument("run", metavar="RUN")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="onnx", show_default=True)
@click.option("--half", is_flag=True, help="Also export with FP16 weights (about half the size).")
@click.option("--int8", is_flag=True, help="Also export INT8-quantized (calibrated on val images).")
def command(run: str, format_: str, half: bool, int8: bool) -> None:
    """Export RUN's best weights and validate each export against the full model.

    The table shows each model file's size and its validation mAP on the run's
    own validation images, so the cost of a smaller model is plain.
    """
    folder = LocalBackend.default().registry.get(run)
    precisions = ("fp32",) + (("fp16",) if half else ()) + (("int8",) if int8 else ())
    table = Table(title=f"run {folder.run_id}: exports")
    for name in ("model", "file", "size", "mAP50", "mAP50-95", "vs full"):
        table.add_column(name, overflow="fold")
    full: float | None = None
    # Ultralytics prints its progress on stdout: keep stdout for the table.
    with console.status("exporting and validating..."), redirect_stdout(sys.stderr):
        for row in export_run(folder, AppDirs.default(), format=format_, precisions=precisions):
            value = row.metrics.get("mAP50-95")
            full = value if full is None else full
            change = "" if value is None or not full else f"{(value - full) / full:+.1%}"
            table.add_row(
                row.label,
                str(row.path),
                size(row.size),
                f"{row.metrics.get('mAP50', 0):.4f}",
                f"{value or 0:.4f}",
                change,
            )
    out.print(table)
