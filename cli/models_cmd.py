"""``datayard models``: base and trained models in the store, versioned like datasets."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from datayard.core.datasets.catalog import group_versions
from datayard.core.datasets.describe import count
from datayard.core.datasets.history import numbers
from datayard.core.errors import UsageError
from datayard.core.events import run_to_end
from datayard.core.models.describe import parameters, summary
from datayard.core.models.store import add_model, pull_weights, remove_model
from datayard.core.models.version import (
    ModelCatalog,
    ModelRef,
    ModelVersion,
    WeightsFacts,
)
from datayard.core.paths import AppDirs
from datayard.core.training.runs import RunFolder
from datayard.core.units import size

from .render import console, follow, interruptible, out, print_json
from .training_view import class_table, exports_table
from .versions import (
    Store,
    history_json,
    json_option,
    open_store,
    print_unreadable,
    profile_option,
)

MODEL_METAVAR = "[OWNER/]NAME[@VERSION]"


@click.group(name="models")
def command() -> None:
    """Base and trained models in the store: add, fetch, promote, list, show, pull, remove.

    A model has versions like a dataset (NAME@v2, NAME@latest, or the id);
    every machine that reaches the store, workers included, uses the same
    bytes, checked by their sha256.
    """


@command.command(name="add")
@click.argument("weights", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--name", "name", required=True, metavar="[OWNER/]NAME", help="The model's name.")
@click.option("-m", "--message", default="", help="What this version is, for colleagues.")
@profile_option
@json_option
def add(weights: Path, name: str, message: str, profile_name: str | None, as_json: bool) -> None:
    """Store WEIGHTS (a .pt file that Ultralytics can load) as the newest version of NAME."""
    store = open_store(profile_name)
    ref = ModelRef.to_add_to(name, store.owner)
    path = weights.expanduser()
    version, number = _store_weights(store, path, ref, source=str(path.resolve()), message=message)
    _report(
        version, number, as_json, f"Added {version.owner}/{version.name} v{number} ({version.id})"
    )


@command.command(name="fetch")
@click.argument("official", metavar="NAME")
@click.option("--name", "name", metavar="[OWNER/]NAME", help="The model's name [default: NAME].")
@click.option("-m", "--message", default="", help="What this version is, for colleagues.")
@profile_option
@json_option
def fetch(
    official: str, name: str | None, message: str, profile_name: str | None, as_json: bool
) -> None:
    """Download Ultralytics' own weights NAME (yolo11n, yolo11s-seg, ...) with Ultralytics'
    downloader and store them, so that every colleague and worker fine-tunes from the
    same bytes without downloading."""
    from datayard.core.training.weights_facts import fetch_official

    store = open_store(profile_name)
    ref = ModelRef.to_add_to(name or official, store.owner)
    with tempfile.TemporaryDirectory(prefix="datayard-fetch-") as folder:
        with interruptible() as cancel:
            weights, facts = fetch_official(official, Path(folder), AppDirs.default(), cancel)
        version, number = _store_weights(
            store,
            weights,
            ref,
            source=f"ultralytics:{official}",
            message=message or f"Ultralytics' {official}.pt",
            facts=facts,
        )
    _report(
        version, number, as_json, f"Fetched {official} as {version.owner}/{version.name} v{number}"
    )


@command.command(name="list")
@profile_option
@json_option
def list_(profile_name: str | None, as_json: bool) -> None:
    """List the models in the store and their versions, oldest first."""
    store = open_store(profile_name)
    models = group_versions(ModelCatalog(store.bucket).stored_versions())
    if as_json:
        print_json([history_json(model, summary) for model in models])
        return
    if not models:
        console.print(
            f"No models in bucket {store.bucket.name!r} yet; add a .pt file with "
            "'datayard models add FILE --name NAME'."
        )
        return
    table = Table()
    table.add_column("model", overflow="fold")
    table.add_column("", no_wrap=True)
    for column in ("version", "created", "added by", "task", "classes", "architecture"):
        table.add_column(column, overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("from", overflow="fold")
    table.add_column("message", overflow="fold")
    for model, version in ((m, v) for m in models for v in m.versions):
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    f"{version.owner}/{version.name}",
                    f"v{model.number(version)}",
                    version.id,
                    version.created,
                    version.added_by,
                    version.facts.task,
                    ", ".join(version.facts.class_names),
                    version.facts.architecture or "?",
                    size(version.size),
                    (version.lineage.run and f"run {version.lineage.run}") or version.source,
                    version.message,
                )
            )
        )
    out.print(table)
    print_unreadable(models)


@command.command(name="show")
@click.argument("model", metavar=MODEL_METAVAR)
@profile_option
@json_option
def show(model: str, profile_name: str | None, as_json: bool) -> None:
    """Show a version of MODEL (the newest unless @VERSION is given) and its lineage."""
    store = open_store(profile_name)
    version = ModelCatalog(store.bucket).version(ModelRef.parse(model, store.owner))
    info = summary(version, _number(store, version))
    if as_json:
        print_json(info)
        return
    rows = [
        ("version", f"v{info['number']}: {info['ref']}"),
        *([("message", info["message"])] if info["message"] else []),
        ("parent", info["parent"] or "none"),
        ("created", info["created"]),
        ("added by", info["added_by"]),
        ("model", _facts_line(version)),
        ("classes", ", ".join(version.facts.class_names) or "(none)"),
        ("weights", f"sha256 {version.sha256}"),
        ("from", version.source),
    ]
    lineage = version.lineage
    if lineage.run:
        rows.append(("run", lineage.run))
    if lineage.dataset:
        rows.append(("dataset", lineage.dataset))
    rows += [(name, f"{value:.4g}") for name, value in sorted(lineage.metrics.items())]
    table = Table("", "", title=Text(info["ref"]), title_justify="left", show_header=False)
    for name, value in rows:
        table.add_row(Text(name), Text(str(value)))
    out.print(table)
    if lineage.classes:
        out.print(class_table(lineage.classes))
    if lineage.exports:
        out.print(exports_table(lineage.exports))


@command.command(name="pull")
@click.argument("model", metavar=MODEL_METAVAR)
@click.argument("destination", type=click.Path(path_type=Path))
@profile_option
def pull(model: str, destination: Path, profile_name: str | None) -> None:
    """Write MODEL's weights to DESTINATION (a file, or a folder to put NAME-vN.pt in)."""
    store = open_store(profile_name)
    version = ModelCatalog(store.bucket).version(ModelRef.parse(model, store.owner))
    target = destination.expanduser()
    if target.is_dir():
        target = target / f"{version.name}-v{_number(store, version)}.pt"
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a folder")
    with interruptible() as cancel:
        pull_weights(store.bucket, version, target, cancel)
    out.print(Text(f"{target} ({size(version.size)}, sha256 checked)"))


@command.command(name="remove")
@click.argument("model", metavar="[OWNER/]NAME")
@click.option("--yes", is_flag=True, help="Do not ask; remove every version.")
@profile_option
def remove(model: str, yes: bool, profile_name: str | None) -> None:
    """Remove MODEL, every version of it, from the store; 'datayard gc --delete' then frees
    its weights unless something else uses the same bytes."""
    store = open_store(profile_name)
    ref = ModelRef.parse(model, store.owner)
    if ref.version:
        raise UsageError("a model is removed with all its versions: name it without @VERSION")
    versions = ModelCatalog(store.bucket).versions(ref.owner, ref.name)
    if not versions:
        raise UsageError(f"there is no model {ref.owner}/{ref.name} in the store")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("removing a model cannot be undone: pass --yes to confirm")
        question = f"Remove {ref.owner}/{ref.name} and its {count(len(versions), 'version')}?"
        if not click.confirm(question, default=False, err=True):
            raise UsageError("nothing was removed")
    removed = remove_model(store.bucket, ref.owner, ref.name)
    out.print(
        Text(
            f"Removed {ref.owner}/{ref.name} ({count(removed, 'version')}); "
            "'datayard gc --delete' frees its weights."
        )
    )


def _store_weights(
    store: Store,
    weights: Path,
    ref: ModelRef,
    *,
    source: str,
    message: str,
    facts: WeightsFacts | None = None,
) -> tuple[ModelVersion, int]:
    """Store ``weights`` as ``ref``'s newest version, read first (in a child process)
    unless ``facts`` says what they are; the version and its number."""
    from datayard.core.training.weights_facts import weights_facts

    with interruptible() as cancel:
        facts = facts or weights_facts(weights, AppDirs.default(), cancel)
        adding = add_model(
            store.bucket,
            weights,
            facts,
            ref,
            source=source,
            message=message,
            cancel=cancel,
        )
        version = run_to_end(follow(adding), ModelVersion)
    return version, _number(store, version)


def _report(version: ModelVersion, number: int, as_json: bool, heading: str, *more: str) -> None:
    """A version just stored: as ``--json`` asks, or its heading, what it is, and ``more``."""
    if as_json:
        print_json(summary(version, number))
        return
    out.print(Text(heading))
    for line in (_facts_line(version), *more):
        out.print(Text(f"  {line}"))


def _number(store: Store, version: ModelVersion) -> int:
    return numbers(ModelCatalog(store.bucket).history(version.owner, version.name))[version.id]


def _facts_line(version: ModelVersion) -> str:
    facts = version.facts
    trained = f", trained at {facts.imgsz} px" if facts.imgsz else ""
    classes = len(facts.class_names)
    return (
        f"{facts.task}, {classes} class{'' if classes == 1 else 'es'}, "
        f"{facts.architecture or 'unknown architecture'}, "
        f"{parameters(facts.parameters)} parameters{trained}, {size(version.size)}"
    )


@command.command(name="promote")
@click.argument("run", metavar="RUN")
@click.option("--name", "name", required=True, metavar="[OWNER/]NAME", help="The model's name.")
@click.option("-m", "--message", default="", help="What this version is, for colleagues.")
@profile_option
@json_option
def promote(run: str, name: str, message: str, profile_name: str | None, as_json: bool) -> None:
    """Make RUN's best weights the newest version of the model NAME, with its lineage: the
    run, its dataset version, its spec, final metrics and exports.

    RUN is a run of this machine, or (by id) one in the store, launched anywhere.
    """
    from datayard.core.training.promote import promote, result_of

    from .runs_cmd import locate_run

    backend, found = locate_run(run, profile_name)
    folder = found if isinstance(found, RunFolder) else None
    store = open_store(profile_name or (folder.record().spec.profile if folder else None))
    ref = ModelRef.to_add_to(name, store.owner)
    here = folder if folder is not None and backend.trained_here(folder) else None
    with (
        tempfile.TemporaryDirectory(prefix="datayard-promote-") as scratch,
        interruptible() as cancel,
    ):
        result = result_of(here, found.run_id, store.bucket, Path(scratch))
        promoting = promote(
            result, store.bucket, ref, AppDirs.default(), message=message, cancel=cancel
        )
        version = run_to_end(follow(promoting), ModelVersion)
    number = _number(store, version)
    score = version.lineage.metrics.get("mAP50-95")
    _report(
        version,
        number,
        as_json,
        f"Promoted run {result.record.run_id} to {version.owner}/{version.name} v{number}",
        *([f"mAP50-95 {score:.3f} on {result.record.dataset}"] if score is not None else []),
    )
