"""The set inspector (item 2 of the desktop app)."""

from .widget import Inspector

__all__ = ["Inspector"]
