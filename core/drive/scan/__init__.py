"""Scanning a folder of a shared drive into an :class:`~datayard.core.drive.inventory.Inventory`.

``scan`` walks, hashes (through the cache) and recognises dataset layouts;
``summarize`` turns the result into plain dicts for any front end.
"""

from __future__ import annotations

from datayard.core.drive.scan.hash_cache import HashCache
from datayard.core.drive.scan.layout import label_for
from datayard.core.drive.scan.scanner import (
    PHASE_HASHING,
    PHASE_LABELS,
    PHASE_SCANNING,
    ScanEvent,
    scan,
)
from datayard.core.drive.scan.summary import Summary, summarize

__all__ = [
    "PHASE_HASHING",
    "PHASE_LABELS",
    "PHASE_SCANNING",
    "HashCache",
    "ScanEvent",
    "Summary",
    "label_for",
    "scan",
    "summarize",
]
