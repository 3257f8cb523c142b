"""The result of a check: findings grouped by kind, plus a summary of each set.

Grouping by kind rather than by file is what makes a report actionable: one
fix hint, then the list of files it applies to.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datayard.core.drive.check.findings import Finding, FindingKind, Severity
from datayard.core.drive.check.sets import SetSummary


@dataclass(frozen=True, slots=True)
class FindingGroup:
    kind: FindingKind
    findings: tuple[Finding, ...]

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path involved, each once, in report order."""
        seen: dict[str, None] = {}
        for finding in self.findings:
            seen[finding.path] = None
            seen.update(dict.fromkeys(finding.related))
        return tuple(seen)


@dataclass(frozen=True)
class CheckReport:
    root: Path
    findings: tuple[Finding, ...]
    """Sorted: errors first, then by kind, path and line."""
    sets: tuple[SetSummary, ...]
    images_checked: int
    labels_checked: int
    deep: bool
    from_cache: int = 0
    """Files whose content was checked before: their findings came from the cache."""

    @property
    def trainable(self) -> bool:
        """No finding would make a training run crash or silently lose data."""
        return not any(finding.severity is Severity.ERROR for finding in self.findings)

    @property
    def counts(self) -> dict[Severity, int]:
        counted = Counter(finding.severity for finding in self.findings)
        return {severity: counted[severity] for severity in Severity}

    @property
    def groups(self) -> tuple[FindingGroup, ...]:
        by_kind: dict[FindingKind, list[Finding]] = {}
        for finding in self.findings:
            by_kind.setdefault(finding.kind, []).append(finding)
        return tuple(FindingGroup(kind, tuple(found)) for kind, found in by_kind.items())

    def of_kind(self, kind: FindingKind) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.kind is kind)

    def to_json(self) -> dict[str, Any]:
        """Plain dicts, lists and strings, ready for ``json.dump``."""
        return {
            "root": str(self.root),
            "trainable": self.trainable,
            "deep": self.deep,
            "images_checked": self.images_checked,
            "labels_checked": self.labels_checked,
            "from_cache": self.from_cache,
            "counts": {severity.value: count for severity, count in self.counts.items()},
            "groups": [_group_json(group) for group in self.groups],
            "sets": [_set_json(summary) for summary in self.sets],
        }


def _group_json(group: FindingGroup) -> dict[str, Any]:
    return {
        "kind": group.kind.value,
        "severity": group.severity.value,
        "heading": group.kind.heading,
        "hint": group.kind.hint,
        "paths": list(group.paths),
        "findings": [
            {
                "path": finding.path,
                "detail": finding.detail,
                "line": finding.line,
                "related": list(finding.related),
                **({"pairs": [list(pair) for pair in finding.pairs]} if finding.pairs else {}),
            }
            for finding in group.findings
        ],
    }


def _set_json(summary: SetSummary) -> dict[str, Any]:
    return {
        "root": summary.root,
        "layout": summary.layout.value,
        "data_yaml": summary.data_yaml,
        "images": summary.images,
        "labelled_images": summary.labelled_images,
        "splits": summary.splits,
        "classes": [
            {
                "id": stats.class_id,
                "name": stats.name,
                "instances": stats.instances,
                "images": stats.images,
            }
            for stats in summary.classes
        ],
    }
