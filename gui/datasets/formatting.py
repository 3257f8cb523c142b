"""How the dates of versions read in the datasets view."""

from __future__ import annotations

from datetime import datetime


def when(created: str) -> str:
    """A manifest's ISO time in the user's time zone, to the minute."""
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return created
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
