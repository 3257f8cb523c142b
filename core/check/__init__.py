"""Will this data train? Checks of images, label files and sets before a push or a run.

``check(inventory)`` runs everything and ends with a :class:`CheckReport`; the
per-file functions are pure and usable alone (the pusher parses labels with
:func:`parse_label` so that manifests hold the class ids the check accepted).
"""

from .findings import Finding, FindingKind, Severity
from .images import check_image
from .labels import LabelResult, check_label, parse_label
from .report import CheckReport, FindingGroup
from .run import PHASE, check
from .sets import ClassStats, SetSummary

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
