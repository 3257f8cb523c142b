"""Reading what a weights file is, and fetching Ultralytics' own, in a child process.

Loading weights imports torch (seconds, hundreds of MB) and unpickles the
file, which may fail in ways that take the process with it; neither belongs
in the app's or the command's process, so Ultralytics loads the file in a
child that ends once it has answered. Its downloader runs there too.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

from datayard.core.child_process import run_in_child_process
from datayard.core.errors import UsageError
from datayard.core.events import CancelToken, Finished, run_to_end
from datayard.core.models.version import WeightsFacts
from datayard.core.paths import AppDirs
from datayard.core.training import offline


def weights_facts(path: Path, dirs: AppDirs, cancel: CancelToken | None = None) -> WeightsFacts:
    """What ``path`` holds; :class:`UsageError` saying why when it is no YOLO weights."""
    if path.suffix != ".pt":
        raise UsageError(f"{path} is not PyTorch weights (.pt); add the .pt file of a model")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    events = run_in_child_process(
        _read_facts, str(path), str(dirs.cache / "ultralytics"), cancel=cancel
    )
    return run_to_end(events, WeightsFacts)


def fetch_official(
    name: str, folder: Path, dirs: AppDirs, cancel: CancelToken | None = None
) -> tuple[Path, WeightsFacts]:
    """Ultralytics' weights ``name`` (``yolo11n``) downloaded by Ultralytics into ``folder``,
    and what they are; :class:`UsageError` with the way to add them by hand when this
    machine cannot download them."""
    events = run_in_child_process(
        _fetch, name, str(folder), str(dirs.cache / "ultralytics"), cancel=cancel
    )
    facts = run_to_end(events, WeightsFacts)
    return folder / f"{name}.pt", facts


def _read_facts(
    path: str, config_dir: str, cancel: CancelToken | None = None
) -> Generator[Finished[WeightsFacts], None, None]:
    offline.prepare_quiet_child(Path(config_dir))
    from .yolo import TrainingError, describe_weights

    try:
        facts = describe_weights(Path(path))
    except TrainingError as error:
        raise UsageError(str(error)) from None
    yield Finished(facts)


def _fetch(
    name: str, folder: str, config_dir: str, cancel: CancelToken | None = None
) -> Generator[Finished[WeightsFacts], None, None]:
    offline.prepare_quiet_child(Path(config_dir))
    del os.environ["YOLO_OFFLINE"]  # the one download Datayard asks of Ultralytics
    from .yolo import TrainingError, describe_weights, download_official

    try:
        facts = describe_weights(download_official(name, Path(folder)))
    except TrainingError as error:
        raise UsageError(str(error)) from None
    yield Finished(facts)
