"""How many bytes of file contents the threads of one transfer hold at once.

A transfer of many small files is fastest with many requests in flight (32,
as the peers it is measured against), but each thread holds what it sends or
receives: 32 threads on files of 16 MiB, each with its parts in flight, would
hold gigabytes. The number of threads decides the speed on small files; this
budget alone bounds the memory, whatever the files' sizes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

MiB = 1 << 20
DEFAULT_BUDGET = 256 * MiB


class MemoryBudget:
    """Bytes a thread takes before it reads a body into memory and gives back once the
    body is gone; a taker waits while the rest of the budget is held."""

    def __init__(self, limit: int = DEFAULT_BUDGET) -> None:
        self.limit = max(1, limit)
        self._free = self.limit
        self._changed = threading.Condition()

    def take(self, size: int) -> int:
        """Wait until ``size`` bytes are free and hold them; what was taken, which
        :meth:`give_back` wants. A body larger than the whole budget takes all of it."""
        size = min(max(size, 0), self.limit)
        with self._changed:
            self._changed.wait_for(lambda: self._free >= size)
            self._free -= size
        return size

    def give_back(self, taken: int) -> None:
        with self._changed:
            self._free += taken
            self._changed.notify_all()

    @contextmanager
    def held(self, size: int) -> Iterator[None]:
        taken = self.take(size)
        try:
            yield
        finally:
            self.give_back(taken)
