"""The environment of programs the packaged app starts that are not the app itself."""

from __future__ import annotations

from datayard.core.bundle import bundled, environment_outside

BUNDLE = "/opt/datayard/_internal"


def test_in_the_bundle_a_program_gets_the_users_library_path_back() -> None:
    environ = {"PATH": "/usr/bin", "LD_LIBRARY_PATH": f"{BUNDLE}:/opt/cuda/lib64"}
    environ["LD_LIBRARY_PATH_ORIG"] = "/opt/cuda/lib64"

    assert environment_outside(environ, in_bundle=True) == {
        "PATH": "/usr/bin",
        "LD_LIBRARY_PATH": "/opt/cuda/lib64",
    }


def test_in_the_bundle_a_user_without_a_library_path_gives_none() -> None:
    environ = {"PATH": "/usr/bin", "LD_LIBRARY_PATH": BUNDLE}

    assert environment_outside(environ, in_bundle=True) == {"PATH": "/usr/bin"}


def test_elsewhere_the_environment_is_passed_on_as_it_is() -> None:
    """A Python install's library path is the user's own, whatever its name says."""
    environ = {"LD_LIBRARY_PATH": "/opt/cuda/lib64", "LD_LIBRARY_PATH_ORIG": "/x"}

    assert not bundled()
    assert environment_outside(environ, in_bundle=False) == environ
