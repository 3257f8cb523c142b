"""``datayard predict``: try a model on images, as YOLO label files and a summary."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from datayard.core.child_process import run_in_child_process
from datayard.core.errors import UsageError
from datayard.core.events import run_to_end
from datayard.core.paths import AppDirs
from datayard.core.training.base_models import resolve_model
from datayard.core.training.predict import SUMMARY_FILE, PredictionSummary, predict_images
from datayard.core.training.spec import MODEL_PREFIX, RUN_PREFIX

from .render import follow, interruptible, out, print_json
from .versions import json_option, open_store, profile_option


@click.command(name="predict")
@click.argument("model", metavar="MODEL")
@click.argument("source", metavar="PATH", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "destination",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the label files (one per image, in the images' folders) and summary.json.",
)
@click.option(
    "--conf",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.25,
    show_default=True,
    help="Detections less confident than this are left out.",
)
@click.option("--imgsz", type=click.IntRange(32, 8192), default=None, help="[default: trained]")
@click.option("--device", default="cpu", show_default=True, help="cpu, 0 (a GPU), 0,1...")
@profile_option
@json_option
def command(
    model: str,
    source: Path,
    destination: Path,
    conf: float,
    imgsz: int | None,
    device: str,
    profile_name: str | None,
    as_json: bool,
) -> None:
    """Predict with MODEL on the images of PATH (a folder, searched through, or one image).

    MODEL is a model in the store ([OWNER/]NAME[@VERSION], or model:...), run:RUN-ID for
    an earlier run's best weights, or a .pt file. Where the images have labels beside
    them, the summary counts the labelled objects found and missed and the detections
    that match none.
    """
    source, destination = source.expanduser().resolve(), destination.expanduser().resolve()
    if destination == source or source in destination.parents:
        raise UsageError(f"--out {destination} is inside {source}: choose a folder outside it")
    dirs = AppDirs.default()
    weights = _weights(model, profile_name, dirs)
    options: dict[str, object] = {"conf": conf, "device": device}
    if imgsz is not None:
        options["imgsz"] = imgsz
    with interruptible() as cancel:
        events = run_in_child_process(
            predict_images,
            weights,
            [str(source)],
            str(destination),
            options,
            str(dirs.cache / "ultralytics"),
            cancel=cancel,
        )
        summary = run_to_end(follow(events), PredictionSummary)
    if as_json:
        print_json(summary.to_dict())
        return
    found = ", ".join(f"{count} {name}" for name, count in summary.detections.items())
    out.print(
        Text(
            f"{summary.images} images, {summary.per_second:.1f} per second: "
            f"{found or 'nothing detected'}"
        )
    )
    if summary.labelled:
        out.print(
            Text(
                f"{summary.labelled} images have labels: {summary.found} of their "
                f"{summary.objects} objects found, {summary.missed} missed, "
                f"{summary.false} detections that match none"
            )
        )
    out.print(Text(f"label files and {SUMMARY_FILE} in {destination}"))


def _weights(model: str, profile_name: str | None, dirs: AppDirs) -> str:
    """The weights file MODEL names; a stored model or a run's weights come from the store."""
    if model.endswith(".pt") and not model.startswith((MODEL_PREFIX, RUN_PREFIX)):
        path = Path(model).expanduser()
        if not path.is_file():
            raise UsageError(f"{path} is not a file")
        return str(path)
    named = model if model.startswith((MODEL_PREFIX, RUN_PREFIX)) else MODEL_PREFIX + model
    store = open_store(profile_name)
    return resolve_model(named, store.bucket, dirs.cache, store.owner)
