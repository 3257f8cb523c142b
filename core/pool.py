"""A bounded pool of parallel work, shared by every operation over many files.

Push, check, pull, verify and the blob listings all map a function over a
long iterable in threads; one implementation (:class:`Crew`) keeps the work
bounded and the cancellation rules the same everywhere. Every thread pool of
Datayard, this one or another, comes from :func:`helper_pool`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from datayard.core.events import Cancelled, CancelToken
from datayard.core.priority import lower_this_thread

Item = TypeVar("Item")
Result = TypeVar("Result")


def helper_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads run at the background niceness (:mod:`.priority`)."""
    return ThreadPoolExecutor(
        max(1, workers), thread_name_prefix=name, initializer=lower_this_thread
    )


GATHER_S = 0.02
"""How long the consumer of a :class:`Crew` lets ended items gather before it takes them."""


@dataclass(frozen=True, slots=True)
class Ended(Generic[Item, Result]):
    """What became of one item of a :class:`Crew`: its result, or the error ``work`` raised."""

    item: Item
    result: Result | None = None
    error: BaseException | None = None


class _Finished:
    """Left on the queue of ended items by a thread of a :class:`Crew` as it ends."""


class Crew(Generic[Item, Result]):
    """``workers`` threads that take ``items`` one at a time, run ``work`` on each, and
    leave what it came to on a queue that the consumer drains; a context manager.

    The threads take the items themselves, so none waits for the consumer to
    hand it work, and nothing is queued ahead: millions of files never become
    millions of queued items. The consumer lets ended items gather for
    :data:`GATHER_S` before it takes them. A future per item, and waking the
    consumer's thread once per item, cost more CPU than the rest of the
    bookkeeping of a small file: with neither, a push of 5,000 files of 20 KB
    spent 0.3 s less CPU and took 0.2 s less.

    Once ``cancel`` or ``stop`` is set, ``work`` raised, or the block is
    left, nothing new starts; the running items finish, or stop at their own
    checkpoint. Leaving the block waits for the threads.
    """

    def __init__(
        self,
        work: Callable[[Item], Result],
        items: Iterable[Item],
        *,
        workers: int,
        name: str,
        cancel: CancelToken | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """``cancel`` is the user's; ``stop`` the caller's own, which ``work`` may heed too
        (a push stops its uploads on an error as well)."""
        self._work = work
        self._items = iter(items)
        self._taking = threading.Lock()
        """Held while a thread takes the next item: an iterator is not safe to share."""
        self._workers = max(1, workers)
        self._cancel = cancel
        self._stop = stop or threading.Event()
        self._halted = threading.Event()
        """Set when ``work`` or the iteration of ``items`` raised, or the block was left."""
        self._ended: queue.SimpleQueue[Ended[Item, Result] | _Finished] = queue.SimpleQueue()
        self._running = self._workers
        self._exhausted = False
        self._broken: BaseException | None = None
        self._pool = helper_pool(self._workers, name)

    def __enter__(self) -> Crew[Item, Result]:
        for _ in range(self._workers):
            self._pool.submit(self._run)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._halted.set()
        self._pool.shutdown(wait=True)

    @property
    def working(self) -> bool:
        """Whether a thread is still at work: a thread's items are all taken once its end is."""
        return self._running > 0

    @property
    def exhausted(self) -> bool:
        """Whether every item was taken: ``False`` when the crew stopped first."""
        return self._exhausted

    def stopped(self) -> bool:
        return (
            self._halted.is_set()
            or self._stop.is_set()
            or (self._cancel is not None and self._cancel.is_set())
        )

    def ended(self) -> list[Ended[Item, Result]]:
        """Items that ended: waits up to a tenth of a second for the first, then up to
        :data:`GATHER_S` for others (less once ``stop`` is set). An error raised by the
        iteration of ``items`` itself is raised here."""
        try:
            taken = [self._ended.get(timeout=0.1)]
        except queue.Empty:
            return []
        self._take(taken)
        if self._running > sum(isinstance(one, _Finished) for one in taken):
            self._stop.wait(GATHER_S)
            self._take(taken)
        items = []
        for one in taken:
            if isinstance(one, _Finished):
                self._running -= 1
            else:
                items.append(one)
        if self._broken is not None:
            raise self._broken
        return items

    def _take(self, taken: list[Ended[Item, Result] | _Finished]) -> None:
        with suppress(queue.Empty):
            while True:
                taken.append(self._ended.get_nowait())

    def _run(self) -> None:
        try:
            while not self.stopped():
                try:
                    with self._taking:
                        item = next(self._items)
                except StopIteration:
                    self._exhausted = True
                    return
                except BaseException as error:  # the iteration broke: raised by ended()
                    self._broken = error
                    self._halted.set()
                    return
                try:
                    self._ended.put(Ended(item, self._work(item)))
                except BaseException as error:  # raised by the consumer, in its thread
                    self._halted.set()
                    self._ended.put(Ended(item, error=error))
        finally:
            self._ended.put(_Finished())


def run_parallel(
    work: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    workers: int,
    cancel: CancelToken | None,
    name: str,
) -> Generator[Result, None, None]:
    """``work`` over ``items`` in a :class:`Crew`; results in the order they finish.

    Once ``cancel`` is set nothing new starts, the running items finish (or
    stop at their own checkpoint), and ``Cancelled`` is raised if any item was
    left undone. Closing the iterator waits only for the running items. The
    first error of ``work`` is raised.
    """
    with Crew(work, items, workers=workers, name=name, cancel=cancel) as crew:
        while crew.working:
            for ended in crew.ended():
                if ended.error is not None:
                    raise ended.error
                yield cast(Result, ended.result)
    if not crew.exhausted:
        raise Cancelled
