"""Runs ON a training host, fed to its Python on stdin: what the host offers for training.

Standard library only and Python 3.8 syntax, since it runs before Datayard is
installed there, in whatever Python the host has (the check says when that is too
old). It reads its parameters from the first line of stdin, as JSON, and prints
one JSON object. Nothing here may fail: every question gets an answer or an
error string, so that one missing tool does not hide the other answers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from typing import Any

HOME = os.path.expanduser("~")


def data_folder() -> str:
    return os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.join(HOME, ".local", "share"), "datayard"
    )


def gpus() -> dict[str, Any]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"gpus": [], "gpu_error": "no nvidia-smi on the host (no NVIDIA driver)"}
    query = "name,memory.total,memory.free,driver_version"
    try:
        out = subprocess.run(
            [smi, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        header = subprocess.run([smi], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as error:
        return {"gpus": [], "gpu_error": f"nvidia-smi failed: {error}"}
    if out.returncode != 0:
        return {"gpus": [], "gpu_error": (out.stderr or out.stdout).strip()[:300]}
    cuda = ""
    if "CUDA Version:" in header:
        cuda = header.split("CUDA Version:")[1].split()[0]
    found: list[dict[str, Any]] = []
    for index, line in enumerate(out.stdout.strip().splitlines()):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            found.append(
                {
                    "index": index,
                    "name": parts[0],
                    "memory_total_mib": _int(parts[1]),
                    "memory_free_mib": _int(parts[2]),
                    "driver": parts[3],
                    "cuda": cuda,
                }
            )
    return {"gpus": found, "gpu_error": ""}


def _int(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        return 0


def disk(folder: str) -> dict[str, Any]:
    probe = folder
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        return {"disk_free": shutil.disk_usage(probe).free, "disk_folder": folder}
    except OSError as error:
        return {"disk_free": -1, "disk_folder": folder, "disk_error": str(error)}


def store(host: str, port: int) -> dict[str, Any]:
    if not host:
        return {"store_reachable": None, "store_error": ""}
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        return {"store_reachable": False, "store_error": str(error)}
    return {"store_reachable": True, "store_error": ""}


def worker(version: str, environment: dict[str, str] | None = None) -> dict[str, Any]:
    """The versions in the worker environment, asked of its Python (run with
    ``environment``, when given, as the app asks it from a process of its own)."""
    python = os.path.join(data_folder(), "worker", version, "bin", "python")
    answer: dict[str, Any] = {"worker_python": python, "worker": None, "worker_error": ""}
    if not os.path.isfile(python):
        answer["worker_error"] = "not set up"
        return answer
    # Versions from the packages' metadata: importing them would cost every launch and
    # check their import time. Each answer of host-side names its protocol anyway.
    check = (
        "import json, importlib.metadata as m\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except Exception: return ''\n"
        "print(json.dumps({n: v(n) for n in ('datayard', 'torch', 'ultralytics')}))\n"
    )
    try:
        out = subprocess.run(
            [python, "-c", check], capture_output=True, text=True, timeout=120, env=environment
        )
        answer["worker"] = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as error:
        answer["worker_error"] = f"{python} does not run: {error}"
    return answer


def main() -> None:
    params = json.loads(sys.stdin.readline())
    answer = {
        "python": sys.executable,
        "python_version": list(sys.version_info[:3]),
        "home": HOME,
        "data_folder": data_folder(),
    }
    answer.update(gpus())
    answer.update(disk(data_folder()))
    answer.update(store(params.get("store_host", ""), params.get("store_port", 0)))
    answer.update(worker(params["version"]))
    print(json.dumps(answer))  # noqa: T201 (the answer, read by the app)


if __name__ == "__main__":
    main()
