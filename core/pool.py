"""A bounded pool of parallel work, shared by every operation over many files.

Check, pull, verify and the blob listings all map a function over a long
iterable in threads; one implementation keeps the queue bounded and the
cancellation rules the same everywhere. Every thread pool of Datayard, this
one or another, comes from :func:`helper_pool`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import TypeVar

from datayard.core.events import Cancelled, CancelToken, check_cancel
from datayard.core.priority import lower_this_thread

Item = TypeVar("Item")
Result = TypeVar("Result")


def helper_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads run at the background niceness (:mod:`.priority`)."""
    return ThreadPoolExecutor(
        max(1, workers), thread_name_prefix=name, initializer=lower_this_thread
    )


def run_parallel(
    work: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    workers: int,
    cancel: CancelToken | None,
    name: str,
    queued: int = 2,
) -> Generator[Result, None, None]:
    """``work`` over ``items`` in a bounded pool; results in the order they finish.

    At most ``queued * workers`` items are queued, so millions of files never become
    millions of futures. Once ``cancel`` is set nothing new starts, the running
    items finish (or stop at their own checkpoint), and ``Cancelled`` is raised
    if any item was left undone. Closing the iterator drops the queued items
    and waits only for the running ones.
    """

    def guarded(item: Item) -> Result:
        check_cancel(cancel)
        return work(item)

    pending = iter(items)
    more = True
    with helper_pool(workers, name) as pool:
        running: set[Future[Result]] = set()
        try:
            while True:
                if more and not (cancel is not None and cancel.is_set()):
                    room = queued * max(1, workers) - len(running)
                    batch = list(islice(pending, room))
                    more = len(batch) == room
                    running.update(pool.submit(guarded, item) for item in batch)
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in running:
                future.cancel()
    if more:
        raise Cancelled
