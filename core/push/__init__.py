"""Pushing folders of the shared drive to the store as an immutable dataset version."""

from __future__ import annotations

from .engine import PushOptions, PushPlanned, PushResult, push
from .plan import SplitMode

__all__ = ["PushOptions", "PushPlanned", "PushResult", "SplitMode", "push"]
