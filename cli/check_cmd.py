"""``datayard check PATH``: will the image sets under PATH train?

Exit codes are the answer for scripts: 0 trainable, 1 blocking problems,
2 usage error. The readable report goes to stdout, grouped by problem with one
fix hint per group; ``--json`` prints the full report instead. ``--csv`` and
``--html`` also write it to files, to share or to open in a spreadsheet.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import click
from PIL import Image
from rich.table import Table
from rich.text import Text

from datayard.core.drive.check import CheckReport, FindingGroup, SetSummary, Severity, check
from datayard.core.drive.check.export import check_destination, write_csv, write_html
from datayard.core.drive.inventory import Inventory
from datayard.core.drive.scan import scan
from datayard.core.drive.thumbnails import ThumbnailCache
from datayard.core.events import CancelToken, run_to_end
from datayard.core.paths import AppDirs

from .render import follow, out, print_json

SHOWN_PER_GROUP = 20
"""Findings listed per group in the readable report; --json lists them all."""

_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


@click.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--deep", is_flag=True, help="Decode every image fully: slower, finds more damage.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--include-hidden", is_flag=True, help="Also check hidden files and folders.")
@click.option(
    "--similar/--no-similar",
    default=True,
    show_default=True,
    help="Compare the images by their looks: near-duplicates, leaks between splits. "
    "Decodes each image not compared before.",
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the findings to FILE as CSV, one row each.",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the report to FILE as one HTML page, with thumbnails of the images.",
)
def command(
    path: Path,
    deep: bool,
    as_json: bool,
    include_hidden: bool,
    similar: bool,
    csv_file: Path | None,
    html_file: Path | None,
) -> None:
    """Check the images, labels and dataset sets under PATH before training on them.

    Exits with 0 when nothing blocks a training run, 1 when something does;
    a PATH that is not a folder, or a report file that cannot be written, is
    a usage error.
    """
    for file in filter(None, (csv_file, html_file)):  # before the check, which may take minutes
        check_destination(file)
    cancel = CancelToken()
    dirs = AppDirs.default().ensure()
    database = dirs.database
    scanning = scan(
        path,
        database=database,
        include_hidden=include_hidden,
        cancel=cancel,
    )
    # The report names every image over the pixel limit; Pillow's own warning
    # about the same images would only add noise on stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            inventory = run_to_end(follow(scanning), Inventory)
            checking = check(
                inventory, deep=deep, cancel=cancel, database=database, similar=similar
            )
            report = run_to_end(follow(checking), CheckReport)
        except KeyboardInterrupt:
            # Stop the work in flight; closing the scan saves the hashes it has.
            cancel.set()
            scanning.close()
            raise
    if as_json:
        print_json(report.to_json())
    else:
        show_report(report)
    if csv_file is not None:
        write_csv(report, csv_file)
    if html_file is not None:
        write_html(report, html_file, ThumbnailCache(dirs.thumbnails))
    click.get_current_context().exit(0 if report.trainable else 1)


def show_report(report: CheckReport) -> None:
    show_findings(report, Severity.INFO)
    if report.sets:
        out.print(_sets_table(report.sets))
    for summary in report.sets:
        if summary.labelled_images:
            out.print(_classes_table(summary))
    counts = report.counts
    verdict = (
        Text("Trainable", style="bold green")
        if report.trainable
        else Text("Not trainable", style="bold red")
    )
    unchanged = f" ({report.from_cache} unchanged since their last check)" * bool(report.from_cache)
    verdict.append(
        f": {counts[Severity.ERROR]} errors, {counts[Severity.WARNING]} warnings, "
        f"{counts[Severity.INFO]} notes in {report.images_checked} images and "
        f"{report.labels_checked} label files{unchanged}.",
        style="default",
    )
    out.print(verdict)


def show_findings(report: CheckReport, least: Severity) -> None:
    """The report's findings as severe as ``least`` or more, group by group."""
    for group in report.groups:
        if group.severity.rank <= least.rank:
            _show_group(group)


def _show_group(group: FindingGroup) -> None:
    heading = Text(f"{group.severity.value.upper():8}", style=_STYLES[group.severity])
    heading.append(f"{group.kind.heading} ({len(group.findings)})", style="bold")
    out.print(heading)
    out.print(Text(f"  {group.kind.hint}", style="dim"))
    for finding in group.findings[:SHOWN_PER_GROUP]:
        line = Text(f"  {finding.path}", style="bold")
        line.append(f"  {finding.detail}")
        if finding.related and not finding.pairs:
            line.append(f"  (also: {', '.join(finding.related)})")
        out.print(line)
        for image, copy in finding.pairs[:SHOWN_PER_GROUP]:
            out.print(Text(f"    {image}  ~  {copy}"))
        if len(finding.pairs) > SHOWN_PER_GROUP:
            more = len(finding.pairs) - SHOWN_PER_GROUP
            out.print(Text(f"    ... and {more} more pairs (--json lists them all)", style="dim"))
    hidden = len(group.findings) - SHOWN_PER_GROUP
    if hidden > 0:
        out.print(Text(f"  ... and {hidden} more (--json lists them all)", style="dim"))
    out.print()


def _sets_table(sets: tuple[SetSummary, ...]) -> Table:
    table = Table(title=Text("Sets"), title_justify="left")
    table.add_column("folder", overflow="fold")
    table.add_column("layout", no_wrap=True)
    for column in ("images", "labelled"):
        table.add_column(column, justify="right")
    table.add_column("splits")
    table.add_column("classes", justify="right")
    for summary in sets:
        table.add_row(
            Text(summary.root),
            summary.layout.value,
            str(summary.images),
            str(summary.labelled_images),
            " ".join(f"{split}: {count}" for split, count in summary.splits.items() if split)
            or "-",
            str(len(summary.classes)),
        )
    return table


def _classes_table(summary: SetSummary) -> Table:
    table = Table(title=Text(f"Classes of {summary.root}"), title_justify="left")
    for column in ("id", "name", "objects", "images"):
        table.add_column(column, justify="left" if column == "name" else "right")
    has_names = any(stats.name is not None for stats in summary.classes)
    for stats in summary.classes:
        if stats.name is not None:
            name = Text(stats.name)
        elif has_names:
            name = Text("(beyond the names)", style="red")
        else:
            name = Text("-", style="dim")
        table.add_row(str(stats.class_id), name, str(stats.instances), str(stats.images))
    return table
