"""Pushing from the desktop app: the drop zone, the push dialog and the transfers panel."""

from .drop_area import DropArea
from .push_dialog import PushDialog
from .queue_panel import TransfersPanel

__all__ = ["DropArea", "PushDialog", "TransfersPanel"]
