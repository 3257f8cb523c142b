"""Keeping Ultralytics off the network.

Ultralytics reaches for the internet on its own: fonts for plots, weights for
the AMP check, pip for missing export packages, analytics. Training machines
often have no internet, and a training run must not depend on it or leak to
it. Everything here happens before ``import ultralytics``, because it reads
its environment at import time.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from datayard.resources import ROOT as RESOURCES

FONT = RESOURCES / "fonts" / "DejaVuSans.ttf"
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
"""The names Ultralytics asks for; DejaVu Sans covers Latin and many other scripts."""

SETTINGS = {
    "sync": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "mlflow": False,
    "raytune": False,
    "tensorboard": False,
    "wandb": False,
    "vscode_msg": False,
    "openvino_msg": False,
}
"""Ultralytics settings that would send data out or print offers."""


def prepare(config_dir: Path) -> None:
    """Point Ultralytics at ``config_dir`` with its fonts in place, offline."""
    fonts = config_dir / "Ultralytics"
    fonts.mkdir(parents=True, exist_ok=True)
    for name in FONT_NAMES:
        target = fonts / name
        if not target.exists():
            shutil.copyfile(FONT, target)
    os.environ.update(
        {
            "YOLO_OFFLINE": "1",
            "YOLO_AUTOINSTALL": "False",
            "YOLO_CONFIG_DIR": str(config_dir),
            # Hugging Face and torch hub: never download.
            "HF_HUB_OFFLINE": "1",
            "TORCH_HOME": str(config_dir / "torch"),
        }
    )


def prepare_quiet_child(config_dir: Path) -> None:
    """:func:`prepare`, in a child process that only answers (a command's may print
    ``--json``): what Ultralytics says goes to stderr, not stdout, and little of it."""
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.environ["YOLO_VERBOSE"] = "False"
    prepare(config_dir)
