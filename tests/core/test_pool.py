"""Helper threads can be told to give the processor to the threads that drive them."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from datayard.core import pool
from datayard.core.pool import helper_pool, lower_helper_priority


def _niceness_of_a_helper() -> int:
    with helper_pool(1, "probe") as helpers:
        asked = helpers.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return asked.result()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux's")
def test_helpers_run_at_the_niceness_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "_niceness", 0)  # restored after the test: the setting is global
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert _niceness_of_a_helper() == mine
    lower_helper_priority(mine + 5)
    assert _niceness_of_a_helper() == mine + 5
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine, "the caller changed"
