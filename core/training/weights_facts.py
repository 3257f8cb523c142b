"""Reading what a weights file is, in a child process of its own.

Loading weights imports torch (seconds, hundreds of MB) and unpickles the
file, which may fail in ways that take the process with it; neither belongs
in the app's or the command's process, so Ultralytics loads the file in a
child that ends once it has answered.
"""

from __future__ import annotations

import os
import sys
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


def _read_facts(
    path: str, config_dir: str, cancel: CancelToken | None = None
) -> Generator[Finished[WeightsFacts], None, None]:
    # This process only answers: what Ultralytics says as it starts belongs to nobody's
    # stdout (the command's may be --json), and little of it to stderr.
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.environ["YOLO_VERBOSE"] = "False"
    offline.prepare(Path(config_dir))
    from .yolo import TrainingError, describe_weights

    try:
        facts = describe_weights(Path(path))
    except TrainingError as error:
        raise UsageError(str(error)) from None
    yield Finished(facts)
