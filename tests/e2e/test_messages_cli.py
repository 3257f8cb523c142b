"""What the command says, against a real SeaweedFS: names as written, one line per problem."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from datayard.core.datasets.catalog import Catalog
from tests.e2e.test_push import write_images
from tests.fixtures.datasets import add_profile, fresh_bucket, publish, run_cli
from tests.fixtures.privileges import unprivileged_prefix
from tests.fixtures.services import S3Server, datayard_command

pytestmark = pytest.mark.usefixtures("secret_service")


def test_a_path_from_the_store_prints_as_written(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = fresh_bucket(s3_server)
    publish(bucket, "mallory/tags", {"../[red]hidden[/red]x": b"x"})
    add_profile(s3_server, bucket)

    done = run_cli("pull", "mallory/tags", str(tmp_path / "out"), "--profile", "lab")

    assert done.returncode != 0
    assert "'../[red]hidden[/red]x'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_forced_push_fails_on_an_unreadable_file_and_names_the_unreadable_folder(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    add_profile(s3_server, bucket)
    source = write_images(tmp_path / "photos", 3)
    (source / "img_00001.png").chmod(0)
    locked = write_images(source / "locked", 1)
    locked.chmod(0)
    prefix = unprivileged_prefix(locked)

    done = subprocess.run(
        [*prefix, *datayard_command("push", str(source), "-d", "photos", "-p", "lab", "--force")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed ")]
    assert failed == [
        f"failed images/val/img_00001.png: cannot read {source}/img_00001.png: Permission denied"
    ]
    assert "1 file(s) failed; nothing was published" in done.stderr
    assert "folder cannot be read (1)" in done.stdout
    assert "  locked  Permission denied" in done.stdout
    assert Catalog(bucket).datasets() == {}


@pytest.mark.parametrize("mode", [0o000, 0o555], ids=["unsearchable", "read-only"])
def test_a_pull_under_a_folder_without_permission_says_what_to_do(
    s3_server: S3Server, tmp_path: Path, mode: int
) -> None:
    bucket = fresh_bucket(s3_server)
    publish(bucket, "alice/cats", {"images/train/a.jpg": b"x"})
    add_profile(s3_server, bucket)
    probe = tmp_path / "probe"
    probe.mkdir(mode=0)
    prefix = unprivileged_prefix(probe)
    parent = tmp_path / "shared"
    parent.mkdir(mode=mode)
    destination = parent / "cats"

    done = subprocess.run(
        [*prefix, *datayard_command("pull", "alice/cats", str(destination), "--profile", "lab")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert done.stderr == (
        f"error: cannot write {destination}: Permission denied; "
        "pull into a folder you can write to\n"
    )
