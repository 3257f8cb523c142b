"""``datayard train``: launch a YOLO training on a dataset version and watch it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from datayard.core.clusters.manifests import job_name
from datayard.core.errors import UsageError
from datayard.core.training.backends import Backends
from datayard.core.training.base_models import pinned
from datayard.core.training.protocol import Failed
from datayard.core.training.runs import MAX_GPUS
from datayard.core.training.spec import OPTIMIZERS, TASKS, TrainSpec, parse_value

from . import training_view
from .render import console
from .versions import REF_METAVAR, open_store, profile_option

# Field name -> (option type, help). Every option defaults to "not given", so
# that --spec and --clone values are kept unless the user overrides them.
FIELDS: dict[str, tuple[Any, str]] = {
    "model": (
        str,
        "Architecture (yolo11n.yaml...), base weights (.pt), run:RUN-ID, or model:NAME[@VERSION] "
        "for a model in the store (datayard models).",
    ),
    "task": (click.Choice(TASKS), "What the model learns: boxes (detect), masks, classes..."),
    "epochs": (int, "Passes over all training images."),
    "batch": (int, "Images per step; halve it when memory runs out."),
    "imgsz": (int, "Images are resized to this many pixels (a multiple of 32)."),
    "lr0": (float, "Initial learning rate (0.01 for SGD, 0.001 for Adam)."),
    "lrf": (float, "Final learning rate as a fraction of lr0."),
    "patience": (int, "Stop after this many epochs without improvement (0: never)."),
    "optimizer": (click.Choice(OPTIMIZERS), "Optimizer; auto picks one for the run length."),
    "device": (str, "auto, cpu, a GPU index (0) or list (0,1)."),
    "workers": (int, "Data-loading processes."),
    "seed": (int, "Random seed, for repeatable runs."),
    "store_wait": (
        int,
        "Seconds the end of the run waits for a store that does not answer (default 300).",
    ),
}


def _field_options(function: Any) -> Any:
    for name, (kind, text) in reversed(FIELDS.items()):
        flag = f"--{name.replace('_', '-')}"
        function = click.option(flag, name, type=kind, default=None, help=text)(function)
    return function


@click.command(name="train")
@click.argument("dataset", metavar=REF_METAVAR)
@_field_options
@click.option("--plots/--no-plots", default=None, help="Save Ultralytics' plots.")
@click.option(
    "--arg",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other Ultralytics training argument, e.g. --arg mosaic=0.5 (repeatable).",
)
@click.option(
    "--spec",
    "spec_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Start from a saved spec (JSON); options given here override it.",
)
@click.option("--clone", "clone_of", metavar="RUN", help="Start from an earlier run's spec.")
@click.option(
    "--on",
    "host",
    metavar="PLACE",
    help="Train on a host (`datayard host add`) or a cluster (`datayard cluster add`) "
    "[default: this computer].",
)
@click.option(
    "--gpus",
    type=click.IntRange(0, MAX_GPUS),
    default=None,
    help="GPUs of the cluster's GPU resource for the run's pod (--on CLUSTER) [default: 0].",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the Secret (its credentials redacted) and the Job a launch on a cluster "
    "would send, and change nothing.",
)
@click.option("--detach", is_flag=True, help="Launch and return; follow with `datayard logs`.")
@profile_option
def command(
    dataset: str,
    extra: tuple[str, ...],
    spec_file: Path | None,
    clone_of: str | None,
    host: str | None,
    gpus: int | None,
    dry_run: bool,
    detach: bool,
    profile_name: str | None,
    **values: Any,
) -> None:
    """Train a YOLO model on a version of DATASET (the newest when none is given).

    The run goes on in the background if this command is interrupted; Ctrl-C
    only stops watching it (exit status 130). Exit status 1 when the run fails.
    """
    backend = Backends.default()
    on_cluster = host is not None and backend.is_cluster(host)
    if (gpus is not None or dry_run) and not on_cluster:
        raise UsageError("--gpus and --dry-run go with --on CLUSTER, a name of `datayard cluster`")
    base = _base_spec(backend, spec_file, clone_of)
    changes = {name: value for name, value in values.items() if value is not None}
    changes["extra"] = {**(base.extra if base else {}), **_extra(extra)}
    # A saved or cloned spec names the store its dataset is in, unless --profile says otherwise.
    profile = profile_name or (base.profile if base else None)
    store = open_store(profile)
    manifest = store.manifest(dataset)
    spec, base_model = pinned(
        (base or TrainSpec(dataset=manifest.ref)).with_changes(
            dataset=manifest.ref, profile=profile, **changes
        ),
        store.bucket,
        store.owner,
    )
    if base_model is not None:
        console.print(Text(f"fine-tuning {base_model.ref} ({base_model.facts.task})"))
    if dry_run:
        assert host is not None
        plan = backend.cluster.plan(
            spec.validated(), manifest.ref, host, gpus=gpus or 0, cloned_from=clone_of
        )
        click.echo(plan.shown(), nl=False)
        console.print(Text("dry run: nothing was sent to the cluster or stored"))
        return
    folder = backend.launch(
        spec.validated(),
        manifest.ref,
        host=host,
        cloned_from=clone_of,
        detached=detach,
        gpus=gpus or 0,
    )
    if on_cluster:
        console.print(
            Text(
                f"run {folder.run_id} ({folder.record().name}) submitted to cluster {host} as Job "
                f"{job_name(folder.run_id)} on {manifest.ref}"
            )
        )
        click.echo(folder.run_id)
        return
    where = f" on host {host}" if host else ""
    name = folder.record().name
    console.print(Text(f"run {folder.run_id} ({name}) launched{where} on {manifest.ref}"))
    if detach:
        click.echo(folder.run_id)
        return
    last = training_view.follow(lambda cancel: backend.follow(folder, cancel), folder.run_id)
    if isinstance(last, Failed):
        sys.exit(1)


def _base_spec(backend: Backends, spec_file: Path | None, clone_of: str | None) -> TrainSpec | None:
    if spec_file and clone_of:
        raise UsageError("give --spec or --clone, not both")
    if spec_file:
        return TrainSpec.from_json(spec_file.read_text(encoding="utf-8"))
    if clone_of:
        return backend.registry.get(clone_of).record().spec
    return None


def _extra(pairs: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--arg {pair!r}: write it as KEY=VALUE, e.g. --arg mosaic=0.5")
        found[key.strip()] = parse_value(value)
    return found
