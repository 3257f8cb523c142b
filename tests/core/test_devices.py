"""The accelerator probe reads what the driver publishes; it never imports torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from datayard.core.training.devices import Accelerator, find_accelerator


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with nothing on it, so that this machine's own nvidia-smi is not seen."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def driver_folder(root: Path, *models: str | None) -> Path:
    """A /proc/driver/nvidia/gpus as the driver writes it; None: a GPU without a model line."""
    for index, model in enumerate(models):
        gpu = root / f"0000:{index:02x}:00.0"
        gpu.mkdir(parents=True)
        lines = [f"Model: \t\t {model}"] if model else []
        lines += ["IRQ:   \t\t 42", "Bus Type: \t PCIe"]
        (gpu / "information").write_text("\n".join(lines) + "\n")
    return root


def test_names_the_gpus_the_driver_lists(tmp_path: Path, empty_path: Path) -> None:
    proc = driver_folder(tmp_path / "gpus", "NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", None)

    found = find_accelerator(nvidia_proc=proc, system="Linux", machine="x86_64")

    assert found == Accelerator("cuda", ("NVIDIA H100 80GB HBM3",) * 2 + ("NVIDIA GPU",))
    assert found.gpu and found.device == "auto"
    assert found.describe() == "2 × NVIDIA H100 80GB HBM3, NVIDIA GPU"


def test_an_nvidia_smi_on_the_path_means_a_gpu(tmp_path: Path, empty_path: Path) -> None:
    tool = empty_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)

    found = find_accelerator(nvidia_proc=tmp_path / "absent", system="Windows", machine="AMD64")

    assert found == Accelerator("cuda")
    assert "NVIDIA GPU" in found.describe()


def test_apple_silicon_asks_for_mps_by_name(tmp_path: Path, empty_path: Path) -> None:
    found = find_accelerator(nvidia_proc=tmp_path / "absent", system="Darwin", machine="arm64")

    assert found.gpu and found.device == "mps"
    assert "mps" in found.describe()


def test_without_a_gpu_says_the_cpu_is_slow(tmp_path: Path, empty_path: Path) -> None:
    for system, machine in (("Linux", "x86_64"), ("Darwin", "x86_64")):
        found = find_accelerator(nvidia_proc=tmp_path / "absent", system=system, machine=machine)
        assert found == Accelerator("cpu")
        assert not found.gpu and found.device == "auto"
        assert "CPU" in found.describe()


def test_probing_imports_neither_torch_nor_ultralytics() -> None:
    code = (
        "import sys\n"
        "from datayard.core.training.devices import find_accelerator\n"
        "find_accelerator()\n"
        "print(sorted(m for m in ('torch', 'ultralytics') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
