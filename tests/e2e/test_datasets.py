"""``datasets``, ``show`` and ``diff`` through the CLI, against a real SeaweedFS."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime

import pytest

from datayard.core.datasets.manifest import Manifest
from tests.fixtures.datasets import (
    add_profile,
    fresh_bucket,
    noise,
    png,
    publish,
    run_cli,
    sample_files,
)
from tests.fixtures.services import S3Server

pytestmark = pytest.mark.usefixtures("secret_service")

LAB = ("--profile", "lab")


def two_versions(server: S3Server) -> tuple[Manifest, Manifest, Manifest]:
    """alice/cats twice (one file added, one removed, one changed) and the user's own dogs."""
    bucket = fresh_bucket(server)
    files = sample_files(extra_train=2)
    first = publish(bucket, "alice/cats", files, when=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    changed = {k: v for k, v in files.items() if k != "labels/train/x1.txt"}
    changed["images/train/cat2.png"] = png((1, 2, 3))
    changed["images/val/new.jpg"] = noise(500, seed=7)
    second = publish(bucket, "alice/cats", changed, when=datetime(2026, 2, 1, 9, 0, tzinfo=UTC))
    own = publish(bucket, f"{getpass.getuser()}/dogs", {"images/train/d.jpg": noise(10, 1)})
    add_profile(server, bucket)
    return first, second, own


def test_datasets_lists_every_version(s3_server: S3Server) -> None:
    first, second, own = two_versions(s3_server)

    listed = run_cli("datasets", *LAB, "--json")
    assert listed.returncode == 0, listed.stderr
    datasets = json.loads(listed.stdout)
    assert [(d["owner"], d["name"]) for d in datasets] == sorted(
        [("alice", "cats"), (own.owner, "dogs")]
    )
    cats = next(d for d in datasets if d["name"] == "cats")
    assert [v["id"] for v in cats["versions"]] == [first.id, second.id]
    newest = cats["versions"][1]
    assert newest["files"] == len(second.files) and newest["bytes"] == second.total_bytes
    assert newest["created"] == "2026-02-01T09:00:00+00:00"
    assert [c["name"] for c in newest["classes"]] == ["cat", "dog"]

    table = run_cli("datasets", *LAB)
    assert table.returncode == 0, table.stderr
    for text in ("alice/cats", first.id, second.id, f"{own.owner}/dogs", "cat, dog"):
        assert text in table.stdout


def test_show_describes_one_version(s3_server: S3Server) -> None:
    first, second, own = two_versions(s3_server)

    shown = run_cli("show", "alice/cats", *LAB, "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["id"] == second.id and info["parent"] == first.id
    assert info["pushed_by"] == "alice@lab-pc"
    assert info["source"] == {"host": "lab-pc", "paths": ["/share/cats"]}
    assert info["splits"] == {"train": 4, "val": 2}
    # cat1: 0 and 1, cat2: 0, x0: 0, v1: 1 (x1's label was removed)
    assert info["classes"] == [
        {"id": 0, "name": "cat", "instances": 3},
        {"id": 1, "name": "dog", "instances": 2},
    ]
    assert (info["files"], info["images"], info["labels"]) == (10, 6, 4)

    older = json.loads(run_cli("show", f"alice/cats@{first.id}", *LAB, "--json").stdout)
    assert older["id"] == first.id and older["parent"] is None

    text = run_cli("show", "dogs", *LAB)  # the settings' owner by default
    assert text.returncode == 0, text.stderr
    assert own.ref in text.stdout and "Images per split" in text.stdout


def test_diff_lists_added_removed_and_changed_files(s3_server: S3Server) -> None:
    first, second, _ = two_versions(s3_server)
    old, new = f"alice/cats@{first.id}", "alice/cats"

    result = run_cli("diff", old, new, *LAB, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "from": first.ref,
        "to": second.ref,
        "added": ["images/val/new.jpg"],
        "removed": ["labels/train/x1.txt"],
        "changed": ["images/train/cat2.png"],
        "counts": {"added": 1, "removed": 1, "changed": 1},
    }

    text = run_cli("diff", old, new, *LAB)
    assert "+ images/val/new.jpg" in text.stdout
    assert "- labels/train/x1.txt" in text.stdout
    assert "~ images/train/cat2.png" in text.stdout
    assert "1 added, 1 removed, 1 changed" in text.stdout


def test_unknown_datasets_and_bad_refs_are_usage_errors(s3_server: S3Server) -> None:
    two_versions(s3_server)
    for args, message in (
        (("show", "alice/dogs"), "there is no dataset alice/dogs in the store"),
        (("show", "alice/cats@20990101T000000Z-00000000"), "has no version 20990101T000000Z"),
        (("diff", "alice/cats", "bob/cats"), "there is no dataset bob/cats"),
        (("show", "alice/cats@latest"), "is not a version id"),
        (("show", "al ice/cats"), "owner 'al ice' is not valid"),
    ):
        result = run_cli(*args, *LAB)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
