"""Background work gives the processor to the desktop app's UI thread.

On a machine with few cores, the UI thread stalled for 25-60 ms at a time
while helpers decoded, hashed and uploaded: it was runnable, holding the GIL
or not, and waiting for a processor. The desktop app sets a background
niceness (:func:`set_background_niceness`); the CLI leaves it at 0, and then
nothing here changes anything.

Linux schedules by group before it schedules by thread: each session is a
group of its own (autogroup), and groups share the processors equally,
whatever the niceness of their threads. So a niced thread gives way to the
UI thread only within the app's process; a process that runs background work
(the push's child, the embedded store the app starts) gets a session of its
own and the niceness as its group's. Other systems have priorities of their
own, not used yet: there these functions do nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

_niceness = 0


def set_background_niceness(niceness: int) -> None:
    """The niceness of background work started from now on (the desktop app: 10)."""
    global _niceness
    _niceness = niceness


def background_niceness() -> int:
    return _niceness


def lower_this_thread() -> None:
    """Give the calling thread the background niceness; threads it starts inherit it.

    Only pool threads and child processes are lowered: the threads that drive
    operations start the embedded store and trainings, which would inherit it.
    """
    if _niceness and sys.platform == "linux":
        with contextlib.suppress(OSError):  # a sandbox may refuse it: the thread runs as it is
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _niceness)


def lower_this_process() -> None:
    """Make the calling process background work: a session of its own, lowered.

    Call it first thing in a child process, before it starts threads. The new
    session also keeps a terminal's Ctrl+C, meant for the app, from it.
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):  # already a session leader
        os.setsid()
    lower_session(os.getpid())
    lower_this_thread()


def lower_session(pid: int) -> None:
    """Lower the scheduling group of ``pid``, a session leader, to the background niceness."""
    if _niceness and sys.platform == "linux":
        # OSError: no autogroups in this kernel, or the process is not ours.
        with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as group:
            group.write(str(_niceness))
