"""Will this data train? Checks of images, label files and sets before a push or a run.

``check(inventory)`` runs everything and ends with a :class:`CheckReport`; the
per-file functions are pure and usable alone. Label lines are read by
:mod:`datayard.core.drive.labels`, as the scan reads them for the class counts
and the manifests.
"""

from datayard.core.drive.check.findings import Finding, FindingKind, Severity
from datayard.core.drive.check.images import check_image
from datayard.core.drive.check.labels import LabelResult, check_label, check_label_data
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
    "check_label_data",
]
