"""Packaging, the layering contract, lint and types: part of the suite, so CI enforces them."""

from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DISTRIBUTION = ("pyproject.toml", "setup.py", "README.md", "core", "gui", "cli", "resources")
"""What the wheel is built from."""
COMMAND_TIMEOUT_S = 240
"""Each command's limit: within the suite's 300 s per test, so a slow one fails as itself."""

# The wheel is built once, in the first test's set-up, within its own command limit.
pytestmark = pytest.mark.timeout(300, func_only=True)


def run(*command: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel users install, unpacked: what the contract and layout checks look at.

    The editable install maps folders through an import hook that import-linter
    cannot walk, and the wheel is what ships anyway. It is built from a copy of
    the sources: setuptools packs whatever its ./build folder holds, so a fresh
    one keeps a deleted module out of the wheel, and the checkout's own build
    folder is left alone.
    """
    out = tmp_path_factory.mktemp("wheel")
    sources = out / "sources"
    sources.mkdir()
    compiled = shutil.ignore_patterns("__pycache__")
    for name in DISTRIBUTION:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, sources / name, ignore=compiled)
        else:
            shutil.copy2(ROOT / name, sources / name)
    built = run(
        *(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)),
        cwd=sources,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("datayard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(out / "site")
    return out / "site"


def test_the_wheel_installs_only_the_datayard_package(unpacked_wheel: Path) -> None:
    top = {path.name for path in unpacked_wheel.iterdir() if not path.name.endswith("dist-info")}
    assert top == {"datayard"}
    installed = {path.name for path in (unpacked_wheel / "datayard").iterdir()}
    assert {"core", "gui", "cli", "resources"} <= installed
    sources = {p.relative_to(ROOT).with_suffix("") for p in ROOT.glob("core/**/*.py")}
    shipped = {
        p.relative_to(unpacked_wheel / "datayard").with_suffix("")
        for p in (unpacked_wheel / "datayard").glob("core/**/*.py")
    }
    assert sources == shipped
    # The training worker plots with this font offline; without it Ultralytics downloads one.
    assert (unpacked_wheel / "datayard/resources/fonts/DejaVuSans.ttf").is_file()


def test_every_package_the_code_imports_is_declared(unpacked_wheel: Path) -> None:
    """A package imported when a module loads must come with Datayard itself; one imported
    only where it is used (Ultralytics, in the worker) may come with an extra."""
    (metadata,) = unpacked_wheel.glob("datayard-*.dist-info/METADATA")
    required = email.parser.Parser().parsestr(metadata.read_text()).get_all("Requires-Dist")
    base: set[str] = set()
    extras: set[str] = set()
    for requirement in required or []:
        name = re.match(r"[\w.-]+", requirement)
        assert name is not None, requirement
        (extras if "extra ==" in requirement else base).add(_distribution(name[0]))
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        f"{path.relative_to(ROOT)}: {module} ({'on load' if on_load else 'where used'})"
        for path, module, on_load in _third_party_imports()
        if not {_distribution(d) for d in providers.get(module, [])}
        & (base if on_load else base | extras)
    }
    assert not undeclared, f"imported, not declared in pyproject.toml: {sorted(undeclared)}"


def _third_party_imports() -> Iterator[tuple[Path, str, bool]]:
    """Each import of a package outside the standard library: file, package, on load."""
    for path in sorted(
        p for folder in ("core", "gui", "cli") for p in (ROOT / folder).rglob("*.py")
    ):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        on_load = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            else:
                continue
            for module in {m.split(".")[0] for m in modules}:
                if module not in sys.stdlib_module_names | {"datayard", "__future__"}:
                    yield path, module, id(node) in on_load


def _distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_core_never_imports_qt_or_the_gui(unpacked_wheel: Path) -> None:
    result = run(
        str(BIN / "lint-imports"),
        "--no-cache",
        "--config",
        str(ROOT / "pyproject.toml"),
        cwd=unpacked_wheel,
        PYTHONPATH=str(unpacked_wheel),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_ruff_is_clean() -> None:
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_and_strict_on_core(unpacked_wheel: Path) -> None:
    # Checked under the installed names (datayard.core...), so that the strict
    # section for datayard.core applies and imports between modules resolve.
    result = run(
        str(BIN / "mypy"),
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--no-incremental",
        *("-p", "datayard.core", "-p", "datayard.gui", "-p", "datayard.cli"),
        cwd=unpacked_wheel,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unused section" not in result.stdout + result.stderr
