"""An operation run in a child process, its events relayed to the caller.

A process has one interpreter lock. The desktop app's push uploads from 16
threads, each spending about a millisecond of Python per file, and the UI
thread waited up to 40 ms for the lock between two paints while a push ran.
In a child process the operation has a lock of its own, and the app's
process only reads its events from a pipe. The CLI has no UI thread to keep
free and runs its operations in its own process as before.

The child is started with "spawn" (forking a process that runs Qt threads is
unsafe) and gets its arguments through a pipe, never on its command line.
Its log records come back through the same pipe, to the caller's loggers.
It stops when the caller's cancel token is set, and when the caller goes
away: either way, a word or the end of the pipe reaches a thread of the
child that waits for it. (A ``multiprocessing.Event`` is no fit: setting it
hangs for good once a process that waited on it has exited.)
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
import threading
from collections.abc import Callable, Generator
from logging.handlers import QueueHandler
from multiprocessing.connection import Connection
from typing import Any

from datayard.core.errors import DatayardError
from datayard.core.events import Cancelled, CancelToken
from datayard.core.logs import quiet_http_client
from datayard.core.priority import background_niceness, lower_this_process, set_background_niceness

log = logging.getLogger(__name__)

_STOP = "stop"

POLL_S = 0.05
"""How often the caller looks at its cancel token while no event comes."""
STOP_WAIT_S = 30.0
"""How long a child that was asked to stop may take to finish its current work."""

Operation = Callable[..., Generator[object, None, object]]


def run_in_child_process(
    operation: Operation, *args: object, cancel: CancelToken | None = None
) -> Generator[object, None, None]:
    """``operation(*args, cancel=token)`` in a child process, its events yielded here.

    ``operation`` must be a module-level function and ``args`` picklable. An
    error the operation raises is raised here, with its type (a
    :class:`~datayard.core.errors.DatayardError` keeps its message); a child
    that dies raises :class:`~datayard.core.errors.DatayardError`.
    """
    context = multiprocessing.get_context("spawn")
    pipe, child_end = context.Pipe()
    name = _name(operation)
    level = logging.getLogger().getEffectiveLevel()
    process = context.Process(
        target=_serve,
        args=(operation, args, child_end, level, background_niceness()),
        name=f"datayard-{name.replace(' ', '-')}",
        daemon=True,
    )
    process.start()
    child_end.close()  # the child holds the only other end: its exit ends the stream
    stopping = False
    try:
        while True:
            if cancel is not None and cancel.is_set() and not stopping:
                pipe.send(_STOP)
                stopping = True
            if not pipe.poll(POLL_S):
                continue
            try:
                kind, payload = pipe.recv()
            except EOFError:
                process.join(STOP_WAIT_S)
                raise DatayardError(
                    f"the {name} process ended unexpectedly (exit code {process.exitcode}); "
                    "what it finished is kept, run it again to go on"
                ) from None
            if kind == "event":
                yield payload
            elif kind == "log":
                logging.getLogger(payload.name).handle(payload)
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        pipe.close()  # a child still running takes it as the word to stop
        process.join(STOP_WAIT_S)
        if process.is_alive():
            log.warning("the %s process did not stop in time; ending it", name)
            process.kill()
            process.join()


class _CallerGone(Exception):  # noqa: N818 - a condition, not a failure
    """The caller's end of the pipe is closed: nobody is left to tell anything."""


class _Pipe:
    """The child's end: one message at a time, from any of its threads."""

    def __init__(self, end: Connection) -> None:
        self._end = end
        self._lock = threading.Lock()

    def send(self, kind: str, payload: object) -> None:
        try:
            with self._lock:
                self._end.send((kind, payload))
        except OSError as error:  # a broken pipe or a reset: the caller exited
            raise _CallerGone from error

    def wait_for_stop(self, token: CancelToken, name: str) -> None:
        """Set ``token`` when the caller says stop or goes away (in a thread of its own).

        A stop is logged once the token is set: from that record on, the caller
        knows that the operation starts nothing new and ends with its work in hand.
        """
        try:
            self._end.recv()
        except (EOFError, OSError):
            token.set()  # the caller is gone: nobody would hear the record
            return
        token.set()
        log.info("the %s was asked to stop; it ends with the work in hand", name)

    def put_nowait(self, record: logging.LogRecord) -> None:
        """What :class:`QueueHandler` calls with a record made picklable."""
        with contextlib.suppress(_CallerGone):
            self.send("log", record)


def _serve(
    operation: Operation,
    args: tuple[Any, ...],
    end: Connection,
    log_level: int,
    niceness: int,
) -> None:
    """The child's main function: run the operation, send everything it says."""
    pipe = _Pipe(end)
    root = logging.getLogger()
    root.setLevel(log_level)
    root.addHandler(QueueHandler(pipe))  # type: ignore[arg-type] # a queue is anything with put_nowait
    quiet_http_client(debug=log_level <= logging.DEBUG)  # as the caller does
    set_background_niceness(niceness)
    lower_this_process()
    token = CancelToken()
    threading.Thread(target=pipe.wait_for_stop, args=(token, _name(operation)), daemon=True).start()
    outcome: BaseException
    try:
        # Closed on every way out, so that its cleanup runs even when the caller is gone.
        with contextlib.closing(operation(*args, cancel=token)) as events:
            for event in events:
                pipe.send("event", event)
        pipe.send("end", None)
        return
    except _CallerGone:
        return
    except Cancelled as cancelled:
        outcome = cancelled
    except BaseException as error:  # every end is reported to the caller
        if not isinstance(error, DatayardError):
            log.error("%s failed", _name(operation), exc_info=error)
        outcome = _portable(error)
    with contextlib.suppress(_CallerGone):
        pipe.send("error", outcome)


def _name(operation: Operation) -> str:
    """What a message calls the operation: its function's name, as a word."""
    return getattr(operation, "__name__", "operation").strip("_").replace("_", " ")


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives the pipe, else an error of the same kind with its message."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # any failure to round-trip: send a plain copy
        if isinstance(error, DatayardError):
            return DatayardError(str(error))
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
