"""Files the app ships (icons, desktop entry, fonts), found relative to this package."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
