"""Quantities written for people, the same in the terminal and in the app."""

from __future__ import annotations


def size(count: float) -> str:
    """Bytes for people: 1.5 MiB, 12.0 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """Elapsed or remaining time for people: 42 s, 3 min 05 s, 2 h 07 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def metric(value: float) -> str:
    """A number of a validation table: a count (images, instances) whole, a score (a
    fraction from 0 to 1) with three decimals."""
    return f"{value:g}" if value >= 1 and float(value).is_integer() else f"{value:.3f}"
