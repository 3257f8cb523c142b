"""Pushing folders of the shared drive to the store as an immutable dataset version."""

from __future__ import annotations

from datayard.core.datasets.push.engine import PushOptions, PushPlanned, PushResult, push
from datayard.core.datasets.push.plan import SplitMode

__all__ = ["PushOptions", "PushPlanned", "PushResult", "SplitMode", "push"]
