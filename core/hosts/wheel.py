"""This Datayard as a wheel: what a worker environment installs, version for version.

An installer ships the wheel it was built with (under the resources'
``wheels`` folder, where its build puts it); a checkout builds one from its
sources, once per change of them, from a copy, since setuptools packs
whatever its ``build`` folder holds.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from datayard.core.errors import HostError

DISTRIBUTION = ("pyproject.toml", "setup.py", "README.md", "core", "gui", "cli", "resources")
"""What the wheel is built from, relative to a checkout's root."""
SHIPPED = "wheels"
_BUILD_TIMEOUT_S = 300


def wheel_name() -> str:
    return f"datayard-{version('datayard')}-py3-none-any.whl"


def own_wheel(cache: Path) -> Path:
    """The wheel of the running Datayard: shipped with it, or built from its checkout."""
    import datayard.resources

    shipped = datayard.resources.ROOT / SHIPPED / wheel_name()
    if shipped.is_file():
        return shipped
    root = Path(datayard.resources.ROOT).parent
    if not (root / "pyproject.toml").is_file():
        raise HostError(
            "this installation of Datayard carries no wheel of itself to install on a host; "
            "set the host up with --wheelhouse FOLDER holding datayard and its dependencies"
        )
    target = cache / "wheels" / _digest(root) / wheel_name()
    if not target.is_file():
        build_wheel(root, target)
    return target


def _digest(root: Path) -> str:
    """Names a build after the sources' files, sizes and times: an edit means a new wheel."""
    digest = hashlib.sha256(version("datayard").encode())
    for name in DISTRIBUTION:
        path = root / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                stat = file.stat()
                digest.update(
                    f"{file.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
                )
    return digest.hexdigest()[:16]


def build_wheel(root: Path, target: Path) -> None:
    """Build the wheel of the checkout at ``root`` as ``target`` (the installers ship it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        sources = Path(scratch) / "sources"
        sources.mkdir()
        for name in DISTRIBUTION:
            if (root / name).is_dir():
                ignored = shutil.ignore_patterns("__pycache__")
                shutil.copytree(root / name, sources / name, ignore=ignored)
            else:
                shutil.copy2(root / name, sources / name)
        command = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation"]
        built = subprocess.run(
            [*command, "-q", "-w", scratch],
            cwd=sources,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT_S,
        )
        wheel = Path(scratch) / wheel_name()
        if built.returncode != 0 or not wheel.is_file():
            raise HostError(f"could not build Datayard's wheel: {built.stderr.strip()[-500:]}")
        wheel.replace(target)
