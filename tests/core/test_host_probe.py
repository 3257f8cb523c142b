"""The host check's script, run here as a training host runs it: a Python fed the script."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any


def probe_answer(data_home: Path) -> dict[str, Any]:
    """What the script answers on a host whose data folder is under ``data_home``."""
    script = resources.files("datayard.core.hosts").joinpath("probe_script.py").read_text()
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps({"version": version("datayard")}) + "\n",
        env={**os.environ, "XDG_DATA_HOME": str(data_home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return answer


def test_the_worker_environment_is_read_without_importing_datayard(tmp_path: Path) -> None:
    """Every launch on a host and every host check asks: importing Datayard's modules in the
    worker environment to answer would cost each of them that import (a third of a second
    on an idle machine here, more on a busy one), where the packages' metadata suffices."""
    imports = tmp_path / "imports.log"
    worker = tmp_path / "data" / "datayard" / "worker" / version("datayard") / "bin" / "python"
    worker.parent.mkdir(parents=True)
    worker.write_text(
        "#!/bin/sh\n"
        f"PYTHONPROFILEIMPORTTIME=1 exec {shlex.quote(sys.executable)} "
        f'"$@" 2>>{shlex.quote(str(imports))}\n'
    )
    worker.chmod(0o755)

    answer = probe_answer(tmp_path / "data")

    assert answer["worker_python"] == str(worker)
    assert answer["worker"]["datayard"] == version("datayard")
    logged = imports.read_text()
    assert "import time:" in logged  # the worker environment's Python answered
    assert re.findall(r"\|\s+(datayard\.\S+)", logged) == []
