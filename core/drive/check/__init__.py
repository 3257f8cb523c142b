"""Will this data train? Checks of images, label files and sets before a push or a run.

``check(inventory)`` runs everything and ends with a :class:`CheckReport`; the
per-file functions are pure and usable alone (the pusher parses labels with
:func:`parse_label` so that manifests hold the class ids the check accepted).
"""

from datayard.core.drive.check.findings import Finding, FindingKind, Severity
from datayard.core.drive.check.images import check_image
from datayard.core.drive.check.labels import LabelResult, check_label, parse_label
from datayard.core.drive.check.report import CheckReport, FindingGroup
from datayard.core.drive.check.run import PHASE, check
from datayard.core.drive.check.sets import ClassStats, SetSummary

__all__ = [
    "PHASE",
    "CheckReport",
    "ClassStats",
    "Finding",
    "FindingGroup",
    "FindingKind",
    "LabelResult",
    "SetSummary",
    "Severity",
    "check",
    "check_image",
    "check_label",
    "parse_label",
]
