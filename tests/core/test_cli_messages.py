"""What the command prints when names hold brackets, tags or emoji codes: the names as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.datasets import run_cli

AWKWARD_NAMES = ["cats [old]", "a[/]b", "../[red]hidden[/red]x", "x:smile:y"]
"""Rich markup, a closing tag with nothing to close, and an emoji code."""


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_a_name_in_an_error_line_prints_as_written(name: str, tmp_path: Path) -> None:
    missing = tmp_path / name / "x"

    done = run_cli("push", str(missing), "--dataset", "cats")

    assert done.returncode == 2
    assert done.stderr == f"error: {missing} is not a folder\n"


def test_a_malformed_endpoint_is_one_line_naming_the_field() -> None:
    done = run_cli(
        "profile", "add", "lab", "--endpoint=http://[::1", "--bucket=abc", "--access-key=k"
    )

    assert done.returncode == 2
    assert done.stderr == (
        "error: profile 'lab': endpoint 'http://[::1' is not a URL like "
        "https://minio.example.com:9000\n"
    )
