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


def test_versions_are_numbered_in_the_order_of_history_and_named_by_number(
    s3_server: S3Server,
) -> None:
    """Three versions, the third's push started before the second's but published after it
    (its id sorts before the second's): it is v3, as its parent says."""
    bucket = fresh_bucket(s3_server)
    files = sample_files()
    first = publish(bucket, "ada/cats", files, when=datetime(2026, 1, 5, tzinfo=UTC))
    second = publish(
        bucket, "ada/cats", files, when=datetime(2026, 2, 1, tzinfo=UTC), message="night images"
    )
    third = publish(bucket, "ada/cats", files, when=datetime(2026, 1, 20, tzinfo=UTC))
    add_profile(s3_server, bucket)
    assert first.id < third.id < second.id and third.parent == second.id

    listed = json.loads(run_cli("datasets", *LAB, "--json").stdout)[0]["versions"]
    named = {
        text: json.loads(run_cli("show", f"ada/cats{text}", *LAB, "--json").stdout)
        for text in ("@v1", "@v2", "@v3", "@latest", "")
    }
    table = run_cli("datasets", *LAB).stdout
    shown = run_cli("show", "ada/cats@v2", *LAB).stdout

    assert [(v["number"], v["id"]) for v in listed] == [
        (1, first.id),
        (2, second.id),
        (3, third.id),
    ]
    assert [named[t]["id"] for t in ("@v1", "@v2", "@v3")] == [first.id, second.id, third.id]
    assert named["@latest"]["id"] == named[""]["id"] == third.id
    assert (named["@v2"]["number"], named["@v2"]["message"]) == (2, "night images")
    assert named["@v3"]["message"] == ""
    rows = [line for line in table.splitlines() if "ada/cats" in line]
    assert ["v1" in rows[0], "v2" in rows[1], "v3" in rows[2]] == [True] * 3
    assert "night images" in rows[1]
    assert f"v2: ada/cats@{second.id}" in shown and "night images" in shown


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
        (("show", "alice/cats@v3"), "dataset alice/cats has no v3: it has v1 to v2"),
        (("show", "alice/cats@newest"), "is not a version: give its number (v3), latest, or"),
        (("show", "al ice/cats"), "owner 'al ice' is not valid"),
    ):
        result = run_cli(*args, *LAB)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
