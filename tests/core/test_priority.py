"""Background work can be told to give the processor to the threads that drive it."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from datayard.core import priority
from datayard.core.pool import helper_pool
from datayard.core.priority import set_background_niceness

MAX_NICENESS = 19


def _niceness_of_a_helper() -> int:
    with helper_pool(1, "probe") as helpers:
        asked = helpers.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return asked.result()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux's")
def test_helpers_run_at_the_niceness_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority, "_niceness", 0)  # restored after the test: the setting is global
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # under `nice`: above 0
    assert _niceness_of_a_helper() == mine
    lower = min(mine + 5, MAX_NICENESS)
    set_background_niceness(lower)
    assert _niceness_of_a_helper() == lower
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine, "the caller changed"
