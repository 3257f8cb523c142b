"""Does a data.yaml say what Ultralytics needs, and do its splits exist?

Split paths are resolved as Ultralytics resolves them, relative to the
``path:`` key or else to the data.yaml's folder, with its fallback for
Roboflow exports (``../train/images`` also tried as ``train/images``), and as
the scan resolves them: a relative ``path:`` is relative to the data.yaml's
folder, and an absolute one that does not exist here (written on the author's
laptop) falls back to that folder. Datayard writes its own data.yaml when it
trains, so only where the splits are on the share counts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from .findings import Finding, FindingKind

log = logging.getLogger(__name__)

SPLIT_KEYS = ("train", "val", "validation", "test")
_REQUIRED = (("train",), ("val", "validation"))


def check_data_yaml(root: Path, rel: str) -> list[Finding]:
    """Findings about the data.yaml at ``rel`` under the scanned ``root``."""
    path = root / rel
    try:
        content: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        return [_invalid(rel, f"cannot be read as YAML: {error}")]
    if not isinstance(content, dict):
        return [_invalid(rel, "is not a mapping of keys to values")]
    findings = [_invalid(rel, problem) for problem in _key_problems(content)]
    base = _base_folder(path.parent, content.get("path"))
    for key in SPLIT_KEYS:
        for entry in _entries(content.get(key)):
            if not _split_exists(base, entry):
                detail = f"{key}: {entry} does not exist"
                findings.append(Finding(FindingKind.DATA_YAML_MISSING_SPLIT, rel, detail))
    return findings


def _key_problems(content: dict[Any, Any]) -> list[str]:
    problems = [
        f"has no '{keys[0]}' key" for keys in _REQUIRED if not any(key in content for key in keys)
    ]
    names, count = content.get("names"), content.get("nc")
    if names is None and count is None:
        problems.append("has neither 'names' nor 'nc': training cannot know the classes")
    elif names is not None and not isinstance(names, list | dict):
        problems.append("'names' must be a list or a mapping of ids to names")
    elif names is not None and count is not None and count != len(names):
        problems.append(f"'nc' is {count} but 'names' lists {len(names)} classes")
    return problems


def _base_folder(folder: Path, path_key: object) -> Path:
    if not isinstance(path_key, str) or not path_key:
        return folder
    base = folder / path_key
    if Path(path_key).is_absolute() and not base.is_dir():
        log.debug("data.yaml path %r does not exist here; using %s", path_key, folder)
        return folder
    return base


def _entries(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [entry for entry in value if isinstance(entry, str)]
    return []


def _split_exists(base: Path, entry: str) -> bool:
    if (base / entry).exists():
        return True
    return entry.startswith("../") and (base / entry[3:]).exists()


def _invalid(rel: str, problem: str) -> Finding:
    return Finding(FindingKind.DATA_YAML_INVALID, rel, f"data.yaml {problem}")
