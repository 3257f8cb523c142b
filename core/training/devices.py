"""Which accelerator a training on this machine would use, found without importing torch.

The train dialog suggests its batch and image size from this, so it must
answer at once: importing torch to ask ``torch.cuda.is_available()`` costs
seconds and hundreds of megabytes in the GUI process. The NVIDIA driver
lists its GPUs under ``/proc`` on Linux; elsewhere its ``nvidia-smi`` tool
on the PATH says a driver is installed. The worker reports the device it
really got (a CPU-only torch build ignores any GPU) in its setup event.
"""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")
"""One folder per GPU, each with an ``information`` file naming its model."""

Kind = Literal["cuda", "mps", "cpu"]


@dataclass(frozen=True)
class Accelerator:
    """What a training started here runs on."""

    kind: Kind
    names: tuple[str, ...] = ()
    """The GPUs' models, when the driver tells them."""

    @property
    def gpu(self) -> bool:
        return self.kind != "cpu"

    @property
    def device(self) -> str:
        """The device value to start from.

        Ultralytics picks an NVIDIA GPU by itself, but uses an Apple GPU only
        when asked for ``mps`` by name.
        """
        return "mps" if self.kind == "mps" else "auto"

    def describe(self) -> str:
        """One line for a user: what was found, and what that means for training."""
        if self.kind == "mps":
            return "Apple GPU (mps)"
        if self.kind == "cpu":
            return "no GPU (training runs on the CPU, much slower)"
        if not self.names:
            return "an NVIDIA GPU (its driver is installed)"
        counted = {name: self.names.count(name) for name in self.names}
        return ", ".join(f"{n} × {name}" if n > 1 else name for name, n in counted.items())


def find_accelerator(
    *,
    nvidia_proc: Path = NVIDIA_PROC,
    system: str | None = None,
    machine: str | None = None,
) -> Accelerator:
    """The accelerator of this machine; the arguments exist to describe other machines."""
    names = _nvidia_models(nvidia_proc)
    if names or shutil.which("nvidia-smi"):
        return Accelerator("cuda", names)
    if (system or platform.system()) == "Darwin" and (machine or platform.machine()) == "arm64":
        return Accelerator("mps")
    return Accelerator("cpu")


def _nvidia_models(root: Path) -> tuple[str, ...]:
    try:
        folders = sorted(root.iterdir())
    except OSError:
        return ()
    return tuple(_model_of(folder / "information") for folder in folders)


def _model_of(information: Path) -> str:
    try:
        lines = information.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "Model" and value.strip():
            return value.strip()
    return "NVIDIA GPU"
