"""Pacing progress events so that a fast loop does not flood its UI."""

from __future__ import annotations

import math
import time

INTERVAL_S = 0.1
"""Ten updates a second is smooth for a bar and cheap for a Qt signal."""


class Throttle:
    """Says when enough time has passed since the last event to send another.

    The first call is always due, so a user sees the work start at once.
    """

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last = -math.inf

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._interval_s:
            return False
        self._last = now
        return True
