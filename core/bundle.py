"""What Datayard must know of itself when it runs as the packaged app (a PyInstaller bundle).

The bundle's executable is the app, not a Python, and PyInstaller's bootloader
puts the bundle's libraries first on ``LD_LIBRARY_PATH`` (keeping the user's
own value in ``LD_LIBRARY_PATH_ORIG``). The app's own child processes (the
push's, which are the bundle again) need that; a program that is not the app
(a Python that trains, the shell, ``nvidia-smi``) must not inherit it: a
bundled libreadline or libstdc++ would be loaded in place of the system's and
break it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

_SEARCH_PATH = "LD_LIBRARY_PATH"
_SAVED = "LD_LIBRARY_PATH_ORIG"


def bundled() -> bool:
    """Whether this process is the packaged app."""
    return bool(getattr(sys, "frozen", False))


def program_environment() -> dict[str, str]:
    """This process's environment as a program that is not the app must get it."""
    return environment_outside(os.environ, in_bundle=bundled())


def environment_outside(environ: Mapping[str, str], *, in_bundle: bool) -> dict[str, str]:
    """``environ`` with the user's own library search path, which the bundle's
    bootloader replaced (none, when the user had none)."""
    environment = dict(environ)
    if not in_bundle:
        return environment
    saved = environment.pop(_SAVED, None)
    if saved is None:
        environment.pop(_SEARCH_PATH, None)
    else:
        environment[_SEARCH_PATH] = saved
    return environment
