"""Does a data.yaml say what Ultralytics needs, and do its splits exist?

The file is read again rather than taken from the inventory, as every file the
check looks at is, and read by the scan's reader, so that a check and a scan
never disagree on where the splits are.
"""

from __future__ import annotations

from pathlib import Path

from datayard.core.drive.check.findings import Finding, FindingKind
from datayard.core.drive.scan import data_yaml


def check_data_yaml(root: Path, rel: str) -> list[Finding]:
    """Findings about the data.yaml at ``rel`` under the scanned ``root``."""
    try:
        data = data_yaml.read(str(root), rel)
    except data_yaml.UnreadableYamlError as error:
        return [_invalid(rel, str(error))]
    findings = [_invalid(rel, problem) for problem in data.problems]
    findings += [
        Finding(FindingKind.DATA_YAML_MISSING_SPLIT, rel, f"{key}: {entry} does not exist")
        for key, entry in data.missing
    ]
    return findings


def _invalid(rel: str, problem: str) -> Finding:
    return Finding(FindingKind.DATA_YAML_INVALID, rel, f"data.yaml {problem}")
