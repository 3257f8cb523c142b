"""Scanning a folder of a shared drive into an :class:`~datayard.core.inventory.Inventory`.

``scan`` walks, hashes (through the cache) and recognises dataset layouts;
``summarize`` turns the result into plain dicts for any front end.
"""

from __future__ import annotations

from .hash_cache import HashCache
from .labels import parse_class_ids, read_class_ids
from .layout import label_for
from .scanner import PHASE_HASHING, PHASE_LABELS, PHASE_SCANNING, ScanEvent, scan
from .summary import Summary, summarize

__all__ = [
    "PHASE_HASHING",
    "PHASE_LABELS",
    "PHASE_SCANNING",
    "HashCache",
    "ScanEvent",
    "Summary",
    "label_for",
    "parse_class_ids",
    "read_class_ids",
    "scan",
    "summarize",
]
