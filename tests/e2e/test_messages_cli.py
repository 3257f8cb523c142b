"""What the command says, against a real SeaweedFS: names as written, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.datasets import add_profile, fresh_bucket, publish, run_cli
from tests.fixtures.services import S3Server

pytestmark = pytest.mark.usefixtures("secret_service")


def test_a_path_from_the_store_prints_as_written(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    publish(bucket, "mallory/tags", {"../[red]hidden[/red]x": b"x"})
    add_profile(s3_server, bucket)

    done = run_cli("pull", "mallory/tags", str(tmp_path / "out"), "--profile", "lab")

    assert done.returncode != 0
    assert "'../[red]hidden[/red]x'" in done.stderr
    assert "Traceback" not in done.stderr
