"""Quantities written for people, the same in the terminal and in the app."""

from __future__ import annotations


def size(count: float) -> str:
    """Bytes for people: 1.5 MiB, 12.0 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
