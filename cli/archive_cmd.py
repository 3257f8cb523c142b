"""``datayard archive``: rules that version a shared drive's folders on a schedule."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click
from rich.text import Text

from datayard.core.archive.cronjob import (
    RULE_VARIABLE,
    cronjob_manifest,
    cronjob_name,
    drive_volume,
    rule_from_environment,
)
from datayard.core.archive.entry import RuleEntry
from datayard.core.archive.report import Outcome, PassReport, SetReport, last_report
from datayard.core.archive.rules import DEFAULT_TEMPLATE, Per, Rule, RuleBook
from datayard.core.archive.run import PassInStore, SetDone, passes_in_store, run_pass
from datayard.core.archive.units import (
    TimerStatus,
    executable,
    install_systemd,
    launchd_plist,
    read_timer_status,
    systemd_user_folder,
    timer_status,
    unit_name,
    windows_task,
)
from datayard.core.atomic import write_atomically
from datayard.core.checks import State
from datayard.core.clusters.api import ClusterApi
from datayard.core.clusters.manifests import as_yaml, secret_manifest, secret_name
from datayard.core.clusters.registry import ClusterRegistry
from datayard.core.errors import ClusterError, ConfigError, DatayardError, UsageError
from datayard.core.events import CancelToken, Finished
from datayard.core.store.bucket import Bucket
from datayard.core.store.locks import Liveness
from datayard.core.store.workspace import Connection, Workspace
from datayard.core.training import credentials
from datayard.core.training.cluster import store_check
from datayard.core.units import duration, size

from .render import console, follow, print_json


def _book() -> RuleBook:
    return RuleBook(Workspace.default().dirs.config)


@click.group("archive")
def command() -> None:
    """Archive shared-drive folders as dataset versions, unattended."""


F = TypeVar("F", bound=Callable[..., object])


def _rule_options(*, editing: bool) -> Callable[[F], F]:
    """The rule's options, once for ``add`` (with their defaults, ``--root`` required)
    and ``edit`` (each optional: one not given keeps the rule's value)."""

    def default(value: str | int) -> str | int | None:
        return None if editing else value

    shown = not editing  # none to show for edit: a missing option keeps the rule's
    options = [
        click.option(
            "--root", required=not editing, default=None, help="The shared-drive folder to archive."
        ),
        click.option(
            "--per",
            default=default(Per.PERSON.value),
            show_default=shown,
            help="person: a dataset per top-level folder; set: per set the scan finds; "
            "folder: per folder at --depth.",
        ),
        click.option(
            "--depth", type=int, default=default(1), show_default=shown, help="For --per folder."
        ),
        click.option(
            "--dataset-template",
            default=default(DEFAULT_TEMPLATE),
            show_default=shown,
            help="[OWNER/]NAME of each dataset from {owner}, {set}, {folder}, {rule}.",
        ),
        click.option(
            "--include",
            multiple=True,
            help="Glob on dataset folders (relative to the root)."
            + (" Replaces the rule's; --include '' clears them." if editing else ""),
        ),
        click.option(
            "--exclude",
            multiple=True,
            help="Glob on dataset folders to leave out."
            + (" Replaces the rule's; --exclude '' clears them." if editing else ""),
        ),
        click.option(
            "--profile",
            "-p",
            default=default(""),
            help="Storage profile ('': the settings' default at each pass).",
        ),
        click.option(
            "--schedule",
            default=default("daily"),
            show_default=shown,
            help="hourly, daily (02:00), a cron expression ('30 1 * * *') or none (run by hand).",
        ),
    ]

    def decorated(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorated


@command.command("add")
@click.argument("name")
@_rule_options(editing=False)
def add(
    name: str,
    root: str,
    per: str,
    depth: int,
    dataset_template: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    profile: str,
    schedule: str,
) -> None:
    """Add the archive rule NAME (nothing runs until `archive run` or `archive install`)."""
    workspace = Workspace.default()
    entry = RuleEntry(
        name=name,
        root=root,
        per=per,
        depth=depth,
        template=dataset_template,
        include=include,
        exclude=exclude,
        profile=profile,
        schedule=schedule,
    )
    rule = entry.rule(workspace.settings())
    RuleBook(workspace.dirs.config).add(rule)
    console.print(f"Added archive rule {name}: {_describe(rule)}")


@command.command("edit")
@click.argument("name")
@_rule_options(editing=True)
def edit(
    name: str,
    root: str | None,
    per: str | None,
    depth: int | None,
    dataset_template: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    profile: str | None,
    schedule: str | None,
) -> None:
    """Change the archive rule NAME: each option given replaces that field, the others
    stay. The name stays (the store's reports and the installed timer go by it)."""
    workspace = Workspace.default()
    book = RuleBook(workspace.dirs.config)
    old = book.get(name)
    given: dict[str, object] = {
        "root": root,
        "per": per,
        "depth": depth,
        "template": dataset_template,
        "profile": profile,
        "schedule": schedule,
        "include": tuple(glob for glob in include if glob) if include else None,
        "exclude": tuple(glob for glob in exclude if glob) if exclude else None,
    }
    if per is not None and per != Per.FOLDER.value and depth is None:
        given["depth"] = 1  # a depth is the folder's only
    changes = {field: value for field, value in given.items() if value is not None}
    entry = dataclasses.replace(RuleEntry.of_rule(old), **changes)  # type: ignore[arg-type]
    rule = entry.rule(workspace.settings())
    if rule == old:
        console.print(f"Archive rule {name} is unchanged: {_describe(rule)}")
        return
    book.replace(rule)
    console.print(Text(f"Changed archive rule {name}: {_describe(rule)}"))
    stale = timer_status(rule).stale
    if stale:
        console.print(Text(f"Timer: {stale}", style="yellow"))


@command.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_rules(as_json: bool) -> None:
    """The archive rules."""
    rules = _book().all()
    timers = [read_timer_status(rule) for rule in rules]
    if as_json:
        listed = zip(rules, timers, strict=True)
        print_json([{**rule.as_dict(), "timer": _timer_json(timer)} for rule, timer in listed])
        return
    for rule, timer in zip(rules, timers, strict=True):
        console.print(Text(f"{rule.name}: {_describe(rule)}; timer {timer.describe()}"))
    if not rules:
        console.print("No archive rules; add one with 'datayard archive add NAME --root PATH'.")


@command.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove the rule NAME (its versions and reports stay in the store)."""
    _book().remove(name)
    console.print(
        f"Removed archive rule {name}. If its units are installed: "
        f"systemctl --user disable --now {unit_name(name)}.timer; if its CronJob is: "
        f"datayard archive uninstall {name} --kubernetes CLUSTER"
    )


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def show(name: str, as_json: bool) -> None:
    """The rule NAME and the report of its last pass."""
    workspace = Workspace.default()
    rule = RuleBook(workspace.dirs.config).get(name)
    connection = workspace.connect(rule.profile or None)
    bucket = Bucket(connection.profile, connection.secret)
    report = last_report(bucket, rule.name)
    unreported = passes_in_store(bucket, rule.name)
    timer = read_timer_status(rule)
    if as_json:
        print_json(
            {
                "rule": rule.as_dict(),
                "timer": _timer_json(timer),
                "last_pass": report.to_dict() if report else None,
                "passes_without_report": [_pass_in_store(found) for found in unreported],
            }
        )
        return
    console.print(Text(f"{rule.name}: {_describe(rule)}"))
    console.print(Text(f"Timer: {timer.describe()}"))
    if report is not None:
        _show_report(report, every_set=True)
    elif not unreported:
        console.print("No pass yet.")
    for found in unreported:  # newer than the last report: they began after it was stored
        style = "" if found.state is Liveness.LIVE else "yellow"
        console.print(Text(found.sentence(), style=style))


def _pass_in_store(found: PassInStore) -> dict[str, object]:
    holder = found.holder
    return {
        "state": "running" if found.state is Liveness.LIVE else "ended without a report",
        "lock_state": found.state.value,
        "host": holder.host if holder else None,
        "pid": holder.pid if holder else None,
        "started": holder.started if holder else None,
        "refreshed": found.refreshed.isoformat(timespec="seconds"),
        "message": found.sentence(),
    }


@command.command("run")
@click.argument("name", required=False)
@click.option("--workers", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option(
    "--from-environment",
    is_flag=True,
    hidden=True,
    help=f"Run the rule of ${RULE_VARIABLE} with the store of "
    f"${credentials.ENVIRONMENT_VARIABLE}: as a CronJob's pod does.",
)
def run(name: str | None, workers: int, from_environment: bool) -> None:
    """One pass of rule NAME (of every rule without NAME): push what changed.

    Exit codes: 0 every dataset archived, 1 a dataset failed or a pass could not
    run (another pass of the rule is running), 2 usage or configuration error.
    """
    workspace = Workspace.default()
    if from_environment:
        if name:
            raise UsageError(f"--from-environment runs the rule of ${RULE_VARIABLE}: give no NAME")
        connection = credentials.from_environment()
        done = _run_one(workspace, rule_from_environment(), workers, connection)
        click.get_current_context().exit(0 if done else 1)
    book = RuleBook(workspace.dirs.config)
    rules = [book.get(name)] if name else book.all()
    if not rules:
        raise UsageError("there are no archive rules; add one with 'datayard archive add'")
    failed = False
    for rule in rules:
        try:
            failed |= not _run_one(workspace, rule, workers)
        except DatayardError as error:
            if name:
                raise
            console.print(Text.assemble(("error:", "bold red"), f" rule {rule.name}: {error}"))
            failed = True
    click.get_current_context().exit(1 if failed else 0)


def _run_one(
    workspace: Workspace, rule: Rule, workers: int, connection: Connection | None = None
) -> bool:
    """Run the rule's pass, in ``connection``'s store (its profile's without one); whether
    every dataset was archived."""
    settings = workspace.settings()
    connection = connection or workspace.connect(rule.profile or None)
    bucket = Bucket(connection.profile, connection.secret, connections=2 * workers)
    cancel = CancelToken()
    report: PassReport | None = None
    operation = run_pass(
        rule,
        bucket=bucket,
        database=workspace.dirs.database,
        owner=settings.owner,
        workers=workers,
        cancel=cancel,
    )
    try:
        for event in follow(operation):
            if isinstance(event, SetDone):
                _show_set(event.report)
            elif isinstance(event, Finished):
                report = event.result
    except KeyboardInterrupt:
        cancel.set()
        operation.close()
        console.print("Interrupted: the next pass archives the rest.")
        raise
    assert report is not None
    _show_report(report, every_set=False)
    return report.count(Outcome.FAILED) == 0


def _show_set(found: SetReport) -> None:
    if found.outcome == Outcome.FAILED:
        console.print(
            Text.assemble(("failed", "red"), f" {found.dataset} ({found.folder}): {found.reason}")
        )
        return
    style = "green" if found.outcome == Outcome.PUSHED else "dim"
    what = f"{found.outcome} {found.dataset}"
    detail = f" {found.version}, {found.files} files, sent {size(found.sent_bytes)}"
    parts: list[str | tuple[str, str]] = [(what, style), detail]
    if not found.trainable:
        parts.append(("; not trainable: ", "yellow"))
        parts.append(found.problems)
    console.print(Text.assemble(*parts))


def _show_report(report: PassReport, *, every_set: bool) -> None:
    counted = report.summary()
    console.print(
        f"Pass of rule {report.rule} on {report.host} at {report.started}, "
        f"{duration(report.duration_s)}: {counted['seen']} datasets, {counted['changed']} "
        f"changed, {counted['pushed']} pushed, {counted['skipped']} unchanged, "
        f"{counted['failed']} failed, {counted['not_trainable']} not trainable, "
        f"{size(counted['sent_bytes'])} sent."
    )
    if report.continued:
        console.print(Text(report.continued[0].upper() + report.continued[1:], style="yellow"))
    if report.interrupted:
        console.print(Text(report.interrupted, style="yellow"))
    if every_set:
        for found in report.sets:
            _show_set(found)


@command.command("install")
@click.argument("name")
@click.option("--print-windows", is_flag=True, help="Print a Task Scheduler task (XML).")
@click.option("--print-launchd", is_flag=True, help="Print a launchd agent (plist).")
@click.option(
    "--kubernetes",
    "cluster_name",
    metavar="CLUSTER",
    help="Render a CronJob that runs the passes on the cluster CLUSTER instead.",
)
@click.option("--nfs", metavar="SERVER:/PATH", help="With --kubernetes: the share over NFS.")
@click.option(
    "--pvc", metavar="CLAIM", help="With --kubernetes: the share's PersistentVolumeClaim."
)
@click.option(
    "--apply",
    "apply_it",
    is_flag=True,
    help="With --kubernetes: create or replace the CronJob on the cluster, and create or "
    "update the Secret of the rule's profile there (from the keyring).",
)
@click.option("--print", "print_yaml", is_flag=True, help="With --kubernetes: print the YAML.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --kubernetes: write the YAML to this file.",
)
def install(
    name: str,
    print_windows: bool,
    print_launchd: bool,
    cluster_name: str | None,
    nfs: str | None,
    pvc: str | None,
    apply_it: bool,
    print_yaml: bool,
    out: Path | None,
) -> None:
    """Write a systemd user timer and service that run `archive run NAME` on its schedule."""
    workspace = Workspace.default()
    rule = RuleBook(workspace.dirs.config).get(name)
    if cluster_name is not None:
        _install_cronjob(workspace, rule, cluster_name, nfs, pvc, apply_it, print_yaml, out)
        return
    if nfs or pvc or apply_it or print_yaml or out:
        raise UsageError("--nfs, --pvc, --apply, --print and --out go with --kubernetes CLUSTER")
    program = executable()
    if print_windows:
        click.echo(windows_task(rule, program), nl=False)
        return
    if print_launchd:
        click.echo(launchd_plist(rule, program), nl=False)
        return
    written = install_systemd(rule, program, systemd_user_folder())
    for path in written:
        console.print(Text(f"wrote {path}"))
    console.print(
        Text(
            "Turn it on with:\n  systemctl --user daemon-reload && "
            f"systemctl --user enable --now {unit_name(rule.name)}.timer\n"
            "and, for passes while you are logged out: loginctl enable-linger"
        )
    )


def _install_cronjob(
    workspace: Workspace,
    rule: Rule,
    cluster_name: str,
    nfs: str | None,
    pvc: str | None,
    apply_it: bool,
    print_yaml: bool,
    out: Path | None,
) -> None:
    """Render the rule's CronJob, and print it, write it, or create it on the cluster with
    the Secret its pods read; refuse a store that the cluster's pods cannot reach."""
    if print_yaml and out is not None:
        raise UsageError("with --kubernetes, give --print or --out FILE, not both")
    if not (apply_it or print_yaml or out is not None):
        raise UsageError("with --kubernetes, give --apply, or --print or --out FILE")
    cluster = ClusterRegistry(workspace.dirs.config).get(cluster_name)
    profile = rule.profile or workspace.settings().default_profile
    reachable = store_check(workspace.endpoint(rule.profile or None))
    if reachable.state is State.FAIL:
        raise UsageError(f"rule {rule.name}: {reachable.detail}; use a rule with --profile")
    cronjob = cronjob_manifest(cluster, rule, profile, drive_volume(nfs, pvc))
    text = as_yaml([cronjob])
    secret = f"the Secret {secret_name(profile)} in namespace {cluster.namespace}"
    if out is not None:
        write_atomically(out, text.encode("utf-8"), mode=0o644)
        console.print(Text(f"wrote {out}"))
    elif print_yaml:
        click.echo(text, nl=False)
    if not apply_it:
        needs = (
            f"its pods read the store's credentials from {secret}, which --apply creates "
            f"or updates with the CronJob (as does a training run of profile {profile} there)"
        )
        said = (
            f"Apply it with kubectl apply -f {out}; {needs}"
            if out
            else needs[0].upper() + needs[1:]
        )
        console.print(Text(f"{said}."))
        return
    with _cluster_refusals():
        connection = workspace.connect(rule.profile or None)
        document = credentials.encode(connection)
        with ClusterApi(cluster) as api:
            api.apply_secret(secret_manifest(cluster, profile, document))
            existed = api.apply_cronjob(cronjob)
    console.print(
        Text(
            f"{'Replaced' if existed else 'Created'} CronJob {cronjob['metadata']['name']} in "
            f"namespace {cluster.namespace} of cluster {cluster.name}, schedule "
            f"{cronjob['spec']['schedule']}; its pods read the store's credentials from "
            f"{secret}, created or updated from profile {profile}. Remove it with: "
            f"datayard archive uninstall {rule.name} "
            f"--kubernetes {cluster.name}"
        )
    )


@command.command("uninstall")
@click.argument("name")
@click.option(
    "--kubernetes",
    "cluster_name",
    metavar="CLUSTER",
    help="Delete the rule's CronJob from the cluster CLUSTER (its Jobs and pods go with it).",
)
def uninstall(name: str, cluster_name: str | None) -> None:
    """Delete the CronJob that `archive install NAME --kubernetes CLUSTER --apply` created.
    The rule and the profile's Secret stay (training runs use the Secret too)."""
    if cluster_name is None:
        raise UsageError(
            "give --kubernetes CLUSTER; a timer is turned off with: systemctl --user disable "
            f"--now {unit_name(name)}.timer"
        )
    workspace = Workspace.default()
    cluster = ClusterRegistry(workspace.dirs.config).get(cluster_name)
    cronjob = cronjob_name(name)
    with _cluster_refusals(), ClusterApi(cluster) as api:
        deleted = api.delete_cronjob(cronjob)
    where = f"in namespace {cluster.namespace} of cluster {cluster.name}"
    if deleted:
        console.print(Text(f"Deleted CronJob {cronjob} {where}, with its Jobs and pods."))
    else:
        console.print(Text(f"There is no CronJob {cronjob} {where}: nothing to delete."))


@contextmanager
def _cluster_refusals() -> Iterator[None]:
    """A cluster that cannot be used (unreachable, forbidden, no namespace, credentials
    refused) ends `archive install` and `uninstall` as a configuration error, exit 2."""
    try:
        yield
    except ClusterError as error:
        if error.exit_code == ConfigError.exit_code:
            raise
        raise ConfigError(str(error)) from error


def _timer_json(timer: TimerStatus) -> dict[str, object]:
    return {"state": timer.state.name.lower(), "installed": timer.installed, "stale": timer.stale}


def _describe(rule: Rule) -> str:
    depth = f" at depth {rule.depth}" if rule.per is Per.FOLDER else ""
    globs = "".join(f" +{g}" for g in rule.include) + "".join(f" -{g}" for g in rule.exclude)
    profile = f", profile {rule.profile}" if rule.profile else ""
    return (
        f"{rule.root}, a dataset per {rule.per.value}{depth} named {rule.template}{globs}, "
        f"{rule.schedule}{profile}"
    )
