"""A check's answer as ``host test`` and ``cluster test`` show it: one line, and the fix
when it fails.

Both lists are read the same way by the command line and the app, so a place a run
trains is checked in one shape whatever it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    state: State
    detail: str
    hint: str = ""
