"""Keeping big, long-lived results out of the garbage collector's full passes.

A folder of 100,000 images in the tree is 100,000 Python wrappers of rows; an
inspection of it is 100,000 images with their paths. A full collection walks
every tracked object, and with those in memory one took 100-360 ms, in
whichever thread triggered it, while the UI thread waited for the GIL. These
objects hold no reference cycles, so reference counting alone frees them when
they go; the cyclic collector has nothing to find among them.
"""

from __future__ import annotations

import gc

BIG = 5_000
"""Rows or images from which a result is worth settling."""


def settle(count: int) -> None:
    """Move what is alive now out of the collector's reach, after a result of ``count`` items.

    Young garbage is collected first (a few milliseconds), so that what is frozen
    is what lives on, not cycles about to be found.
    """
    if count >= BIG:
        gc.collect(1)
        gc.freeze()
