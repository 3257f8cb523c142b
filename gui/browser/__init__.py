"""The shared-drive browser (item 1 of the desktop app)."""

from .widget import DriveBrowser

__all__ = ["DriveBrowser"]
