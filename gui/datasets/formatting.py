"""How sizes and dates of versions read in the datasets view."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QLocale


def size(count: int) -> str:
    return QLocale().formattedDataSize(count)


def when(created: str) -> str:
    """A manifest's ISO time in the user's time zone, to the minute."""
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return created
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
