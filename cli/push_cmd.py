"""``datayard push``: folders of the shared drive become a dataset version in the store."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from datayard.core.datasets.describe import count
from datayard.core.datasets.manifest import check_message
from datayard.core.datasets.push import PushOptions, PushPlanned, PushResult, SplitMode, push
from datayard.core.datasets.push.engine import CheckFailedError
from datayard.core.datasets.push.journal import last_unfinished_push
from datayard.core.drive.check import Severity
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, FileFailed, Finished
from datayard.core.memory_budget import DEFAULT_BUDGET
from datayard.core.store.bucket import Bucket
from datayard.core.store.workspace import Workspace
from datayard.core.units import size

from .check_cmd import show_findings, show_report
from .render import console, follow, print_json

MiB = 1 << 20


@click.command("push")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dataset", "-d", help="Dataset name (stored as OWNER/NAME).")
@click.option("--profile", "-p", help="Storage profile (default: the settings' default).")
@click.option(
    "--split",
    type=click.Choice([mode.value for mode in SplitMode]),
    default=SplitMode.AUTO.value,
    show_default=True,
    help="auto: the folders' splits, else 80/20; folder: the folders' splits, else all "
    "train; ratio: 80/20 whatever the folders say.",
)
@click.option("--force", is_flag=True, help="Push even if the check finds blocking problems.")
@click.option(
    "--message",
    "-m",
    default="",
    help="What this version changes, shown with it (`datasets`, `show`, the app).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the last push that did not finish, into the store it was going to.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=PushOptions.workers,
    show_default=True,
    help=f"Files sent at once; what they hold in memory stays within {DEFAULT_BUDGET // MiB} MiB "
    "whatever the number.",
)
@click.option(
    "--part-size",
    type=click.IntRange(5, 5120),
    default=16,
    show_default=True,
    help="MiB per part of a large file; larger files upload in resumable parts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(
    paths: tuple[Path, ...],
    dataset: str | None,
    profile: str | None,
    split: str,
    force: bool,
    message: str,
    resume: bool,
    workers: int,
    part_size: int,
    as_json: bool,
) -> None:
    """Push PATHS as a new version of dataset NAME; run it again to resume.

    Every distinct file content is stored once; what the store already has is
    not sent again. The version is published only after all its files are
    stored. Exit codes: 0 done, 1 files failed or the check found blocking
    problems, 2 usage or configuration error.
    """
    workspace = Workspace.default()
    settings = workspace.settings()
    if resume:
        paths, dataset, profile, split, force, message = _last_push(
            workspace, paths, dataset, profile, message
        )
    if not paths:
        raise UsageError("name the folders to push (or use --resume)")
    if not dataset:
        raise UsageError("name the dataset with --dataset NAME")
    for path in paths:
        if not path.is_dir():
            raise UsageError(f"{path} is not a folder")
    options = PushOptions(
        dataset=dataset,
        owner=settings.owner,
        split=SplitMode(split),
        force=force,
        workers=workers,
        part_size=part_size * MiB,
        message=check_message(message),
    )
    connection = workspace.connect(profile)
    bucket = Bucket(connection.profile, connection.secret, connections=2 * workers)
    cancel = CancelToken()
    failures: list[FileFailed] = []
    result: PushResult | None = None
    operation = push(
        list(paths), options, bucket=bucket, database=workspace.dirs.database, cancel=cancel
    )
    try:
        for event in follow(operation):
            if isinstance(event, PushPlanned):
                console.print(
                    f"{event.dataset}: {event.files} files ({size(event.bytes)}), "
                    f"{event.new_blobs} of {event.blobs} contents to send ({size(event.new_bytes)})"
                )
            elif isinstance(event, FileFailed):
                failures.append(event)
            elif isinstance(event, Finished):
                result = event.result
    except CheckFailedError as error:
        for report in error.reports:
            show_report(report)
        raise
    except KeyboardInterrupt:
        cancel.set()
        operation.close()
        console.print("Interrupted: run the same command again (or --resume) to continue.")
        raise
    assert result is not None
    _show(result, as_json)
    click.get_current_context().exit(1 if result.failures else 0)


def _last_push(
    workspace: Workspace,
    paths: tuple[Path, ...],
    dataset: str | None,
    profile: str | None,
    message: str,
) -> tuple[tuple[Path, ...], str, str | None, str, bool, str]:
    """The folders, dataset, profile, split, force and message of the last push that did
    not finish.

    It goes on into the store it was going to, whichever profile is the default now.
    """
    if paths or dataset or profile or message:
        raise UsageError(
            "--resume repeats the last unfinished push: give no folders, dataset, profile "
            "or message"
        )
    found = last_unfinished_push(workspace.dirs.database)
    if found is None:
        raise UsageError("there is no unfinished push to resume")
    _, request = found
    folders = tuple(Path(str(p)) for p in request["paths"])  # type: ignore[attr-defined]
    recorded = request.get("profile")  # None when an earlier Datayard recorded it: the default
    return (
        folders,
        str(request["dataset"]),
        None if recorded is None else str(recorded),
        str(request["split"]),
        bool(request["force"]),
        str(request.get("message", "")),  # none when an earlier Datayard recorded it
    )


def _show(result: PushResult, as_json: bool) -> None:
    manifest = result.manifest
    if as_json:
        print_json(
            {
                "dataset": result.dataset,
                "version": manifest.id if manifest else None,
                "unchanged": result.unchanged,
                "uploaded_blobs": result.uploaded_blobs,
                "sent_bytes": result.sent_bytes,
                "changed_files": list(result.changed_files),
                "failures": [{"path": f.path, "error": f.error} for f in result.failures],
            }
        )
        return
    for report in result.reports:
        # What the version leaves out (unreadable folders) or was forced past.
        show_findings(report, Severity.WARNING)
    for failure in result.failures:
        console.print(Text.assemble(("failed", "red"), f" {failure.path}: {failure.error}"))
    if result.failures:
        console.print(
            Text.assemble(
                (f"{len(result.failures)} file(s) failed", "red"),
                "; nothing was published. Fix them and run the same command again: "
                "what was sent is not sent again.",
            )
        )
    elif result.unchanged and manifest is not None:
        console.print(f"Nothing changed: {manifest.ref} is the latest version.")
        if result.uploaded_blobs:
            console.print(
                Text.assemble(
                    ("Restored", "green"),
                    f" {count(result.uploaded_blobs, 'file content')} that the store had lost "
                    f"({size(result.sent_bytes)}).",
                )
            )
    elif manifest is not None:
        for path in result.changed_files:
            console.print(
                Text.assemble(("changed while pushed, stored as read:", "yellow"), f" {path}")
            )
        console.print(
            Text.assemble(
                ("Pushed", "green"),
                f" {manifest.ref}: {len(manifest.files)} files, "
                f"{result.uploaded_blobs} sent ({size(result.sent_bytes)}).",
            )
        )
